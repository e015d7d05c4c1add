"""Idempotency-Key: one effect, the same answer, 422 on a changed body (acceptance 3)."""

import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import text

from tests.conftest import bearer

BODY = {"name": "Lakeside", "slug": "lakeside", "timezone": "America/Chicago"}


def count(owner_engine, sql):
    with owner_engine.connect() as conn:
        return conn.execute(text(sql)).scalar_one()


def post(client, key, body=BODY, idem="retry-1"):
    return client.post("/api/v1/tenants", json=body,
                       headers={**bearer(key), "Idempotency-Key": idem})


def test_same_key_twice_gives_one_effect_and_the_same_response(client, platform_key,
                                                                owner_engine):
    first, second = post(client, platform_key), post(client, platform_key)
    assert first.status_code == second.status_code == 201
    assert first.json == second.json
    assert first.headers["Location"] == second.headers["Location"]
    assert "Idempotent-Replayed" not in first.headers
    assert second.headers["Idempotent-Replayed"] == "true"
    assert count(owner_engine, "SELECT count(*) FROM tenants") == 1
    assert count(owner_engine, "SELECT count(*) FROM outbox") == 1


def test_same_key_with_a_different_body_is_422(client, platform_key, owner_engine):
    post(client, platform_key)
    response = post(client, platform_key, body={**BODY, "name": "Another"})
    assert response.status_code == 422
    assert response.json["type"].endswith("idempotency-key-reused")
    assert count(owner_engine, "SELECT count(*) FROM tenants") == 1


def test_json_formatting_does_not_make_a_different_body(client, platform_key):
    post(client, platform_key)
    same = client.post("/api/v1/tenants", headers={**bearer(platform_key),
                       "Idempotency-Key": "retry-1", "Content-Type": "application/json"},
                       data='{"timezone": "America/Chicago",  "slug": "lakeside", '
                            '"name": "Lakeside"}')
    assert same.status_code == 201
    assert same.headers["Idempotent-Replayed"] == "true"


def test_keys_are_scoped_per_tenant(client, tenant, other_tenant, owner_engine):
    body = {"name": "desk", "role": "staff"}
    for who in (tenant, other_tenant):
        response = client.post("/api/v1/api-keys", json=body, headers={
            **bearer(who.admin_key), "Idempotency-Key": "same-key"})
        assert response.status_code == 201
        assert "Idempotent-Replayed" not in response.headers
    assert count(owner_engine, "SELECT count(*) FROM api_keys WHERE name = 'desk'") == 2


def test_a_refused_command_releases_its_key(client, platform_key):
    post(client, platform_key, body=BODY, idem="first")
    refused = post(client, platform_key, body=BODY, idem="second")
    assert refused.status_code == 409
    retried = post(client, platform_key, body={**BODY, "slug": "lakeside-2"}, idem="second")
    assert retried.status_code == 201


def test_invalid_key_header_is_422(client, platform_key):
    response = post(client, platform_key, idem="x" * 256)
    assert response.status_code == 422
    assert "Idempotency-Key" in response.json["errors"]


def test_twenty_concurrent_requests_with_one_key(app, platform_key, owner_engine):
    start = threading.Barrier(20)

    def attempt(_):
        client = app.test_client()
        start.wait()
        return post(client, platform_key, idem="concurrent")

    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(attempt, range(20)))
    statuses = sorted(r.status_code for r in responses)
    assert all(s in (201, 409) for s in statuses), statuses
    created = [r for r in responses if r.status_code == 201]
    assert len({r.json["id"] for r in created}) == 1
    assert all(r.json["type"].endswith("idempotency-key-in-flight")
               for r in responses if r.status_code == 409)
    assert count(owner_engine, "SELECT count(*) FROM tenants") == 1
    assert count(owner_engine, "SELECT count(*) FROM outbox") == 1
    # After the race, a retry replays the stored answer.
    replay = post(app.test_client(), platform_key, idem="concurrent")
    assert replay.json == created[0].json


def test_after_24_hours_a_key_starts_afresh(client, platform_key, owner_engine):
    first = post(client, platform_key)
    with owner_engine.begin() as conn:
        conn.execute(text("UPDATE idempotency_keys SET created_at = now() - interval '25 hours', "
                          "completed_at = now() - interval '25 hours'"))
    again = post(client, platform_key, body={**BODY, "slug": "lakeside-2"})
    assert again.status_code == 201
    assert "Idempotent-Replayed" not in again.headers
    assert again.json["id"] != first.json["id"]


def test_an_abandoned_claim_is_taken_over(client, platform_key, owner_engine):
    """A claim whose request died (no response after the lock time) does not block forever."""
    with owner_engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO idempotency_keys (tenant_id, key, request_hash, claim_token, created_at) "
            "VALUES ('00000000-0000-0000-0000-000000000000', 'retry-1', 'x', gen_random_uuid(), "
            "now() - interval '2 minutes')"))
    assert post(client, platform_key).status_code == 201


def test_a_fresh_claim_in_flight_is_409(client, platform_key, owner_engine):
    first = post(client, platform_key, idem="probe")  # learn the stored hash of BODY
    with owner_engine.begin() as conn:
        post_body_hash = conn.execute(text(
            "SELECT request_hash FROM idempotency_keys WHERE key = 'probe'")).scalar_one()
        conn.execute(text(
            "INSERT INTO idempotency_keys (tenant_id, key, request_hash, claim_token) "
            "VALUES ('00000000-0000-0000-0000-000000000000', 'retry-1', :h, gen_random_uuid())"),
            {"h": post_body_hash})
    assert first.status_code == 201
    response = post(client, platform_key, body=BODY)
    assert response.status_code == 409
    assert response.json["type"].endswith("idempotency-key-in-flight")

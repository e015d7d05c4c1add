"""Idempotency-Key: one effect, the same answer, 422 on a changed body (acceptance 3)."""

import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import text

from tests.api.test_appointments import act, at
from tests.api.test_appointments import booked as booked
from tests.api.test_appointments import other_patient as other_patient
from tests.api.test_appointments import patient as patient
from tests.api.test_appointments import provider as provider
from tests.conftest import bearer
from tests.factories import ApiKeyFactory
from tests.patient_factories import PatientFactory
from vitalbridge.messaging.messages import Role

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


def test_records_belong_to_the_api_key_not_to_the_tenant(app, client, tenant, owner_engine):
    """Another key of the clinic reusing an admin's Idempotency-Key and body runs its own
    command: a read-only key is refused for its role (not handed the admin's 201), a
    second admin key creates a key of its own."""
    with app.app_context():
        reader = ApiKeyFactory(tenant_id=tenant.id, role=Role.READONLY)
        second_admin = ApiKeyFactory(tenant_id=tenant.id, role=Role.ADMIN)

    def create(key):
        return client.post("/api/v1/api-keys", json={"name": "desk", "role": "staff"},
                           headers={**bearer(key), "Idempotency-Key": "shared"})

    first = create(tenant.admin_key)
    refused, own, replayed = create(reader.key), create(second_admin.key), create(
        tenant.admin_key)
    assert (first.status_code, refused.status_code, own.status_code) == (201, 403, 201)
    assert "Idempotent-Replayed" not in refused.headers
    assert "Idempotent-Replayed" not in own.headers
    assert own.json["id"] != first.json["id"]
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.json["id"] == first.json["id"]  # (a replay never repeats the secret)
    assert count(owner_engine, "SELECT count(*) FROM api_keys WHERE name = 'desk'") == 2


def test_a_refused_command_keeps_its_answer_for_the_key(client, platform_key, owner_engine):
    post(client, platform_key, body=BODY, idem="first")
    refused = post(client, platform_key, body=BODY, idem="second")
    assert refused.status_code == 409
    assert refused.json["type"].endswith("slug-taken")
    again = post(client, platform_key, body=BODY, idem="second")
    assert (again.status_code, again.json) == (409, refused.json)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.mimetype == "application/problem+json"
    changed = post(client, platform_key, body={**BODY, "slug": "lakeside-2"}, idem="second")
    assert changed.status_code == 422
    assert changed.json["type"].endswith("idempotency-key-reused")
    assert count(owner_engine, "SELECT count(*) FROM tenants") == 1
    assert count(owner_engine,
                 "SELECT count(*) FROM audit_log WHERE outcome = 'refused:slug-taken'") == 1


def test_invalid_key_header_is_422(client, platform_key):
    response = post(client, platform_key, idem="x" * 256)
    assert response.status_code == 422
    assert "Idempotency-Key" in response.json["errors"]


def twenty_at_once(app, key, idem):
    """Twenty clients post the same body with the same key, released together."""
    start = threading.Barrier(20)

    def attempt(_):
        client = app.test_client()
        start.wait()
        return post(client, key, idem=idem)

    with ThreadPoolExecutor(max_workers=20) as pool:
        return list(pool.map(attempt, range(20)))


def test_twenty_concurrent_requests_with_one_key(app, platform_key, owner_engine):
    responses = twenty_at_once(app, platform_key, "concurrent")
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
            "INSERT INTO idempotency_keys (tenant_id, api_key_id, key, request_hash, "
            "claim_token, created_at) SELECT '00000000-0000-0000-0000-000000000000', id, "
            "'retry-1', 'x', gen_random_uuid(), now() - interval '2 minutes' "
            "FROM platform_keys"))
    assert post(client, platform_key).status_code == 201


def test_a_fresh_claim_in_flight_is_409(client, platform_key, owner_engine):
    first = post(client, platform_key, idem="probe")  # learn the stored hash of BODY
    with owner_engine.begin() as conn:
        post_body_hash = conn.execute(text(
            "SELECT request_hash FROM idempotency_keys WHERE key = 'probe'")).scalar_one()
        conn.execute(text(
            "INSERT INTO idempotency_keys (tenant_id, api_key_id, key, request_hash, "
            "claim_token) SELECT tenant_id, api_key_id, 'retry-1', :h, gen_random_uuid() "
            "FROM idempotency_keys WHERE key = 'probe'"), {"h": post_body_hash})
    assert first.status_code == 201
    response = post(client, platform_key, body=BODY)
    assert response.status_code == 409
    assert response.json["type"].endswith("idempotency-key-in-flight")


def test_twenty_concurrent_refused_requests_with_one_key(app, platform_key, owner_engine):
    post(app.test_client(), platform_key, idem="taken-first")  # the slug is now taken
    responses = twenty_at_once(app, platform_key, "concurrent")
    assert {r.status_code for r in responses} == {409}
    assert {r.json["type"].rsplit(":", 1)[-1] for r in responses} <= {
        "slug-taken", "idempotency-key-in-flight"}
    ran = [r for r in responses if r.json["type"].endswith("slug-taken")
           and "Idempotent-Replayed" not in r.headers]
    assert len(ran) == 1
    assert count(owner_engine,
                 "SELECT count(*) FROM audit_log WHERE outcome = 'refused:slug-taken'") == 1
    replay = post(app.test_client(), platform_key, idem="concurrent")
    assert replay.json == ran[0].json
    assert replay.headers["Idempotent-Replayed"] == "true"


# Refusals through the domain: the key keeps the first answer ----------------------------


def book_with_key(client, key, provider, patient, start, idem):
    body = {"provider_id": str(provider.id), "patient_id": str(patient.id),
            "start": start.isoformat()}
    return client.post("/api/v1/appointments", json=body,
                       headers={**bearer(key), "Idempotency-Key": idem})


def test_a_refused_booking_is_replayed_even_once_the_slot_is_free(
        client, tenant, provider, other_patient, booked, owner_engine):
    refused = book_with_key(client, tenant.admin_key, provider, other_patient, at(10), "b-1")
    assert refused.status_code == 409
    assert refused.json["type"].endswith("slot-unavailable")
    assert act(client, tenant.admin_key, booked.id, "cancel",
               {"reason": "patient request"}).status_code == 200
    events_before = count(owner_engine, "SELECT count(*) FROM outbox")

    again = book_with_key(client, tenant.admin_key, provider, other_patient, at(10), "b-1")

    assert again.status_code == 409
    assert again.json == refused.json  # the first body, its request_id included
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.mimetype == "application/problem+json"
    assert "Idempotent-Replayed" not in refused.headers
    # It did not run again: no new appointment, no new event, one refusal audited.
    assert count(owner_engine, "SELECT count(*) FROM appointments") == 1
    assert count(owner_engine, "SELECT count(*) FROM outbox") == events_before
    assert count(owner_engine, "SELECT count(*) FROM audit_log "
                 "WHERE outcome = 'refused:slot-unavailable'") == 1
    # Running it would now succeed: a new key does.
    fresh = book_with_key(client, tenant.admin_key, provider, other_patient, at(10), "b-2")
    assert fresh.status_code == 201


def test_a_refusal_is_kept_in_its_own_tenant(app, client, tenant, other_tenant, owner_engine):
    with app.app_context():
        theirs = ApiKeyFactory(tenant_id=other_tenant.id)
    path = f"/api/v1/api-keys/{theirs.id}/revoke"

    def revoke(admin_key):
        return client.post(path, headers={**bearer(admin_key), "Idempotency-Key": "r-1"})

    hidden = revoke(tenant.admin_key)  # another tenant's key: 404, kept for this tenant
    assert hidden.status_code == 404
    # The same key, path and body from the key's own tenant is another request: it runs.
    revoked = revoke(other_tenant.admin_key)
    assert revoked.status_code == 200
    assert "Idempotent-Replayed" not in revoked.headers
    again = revoke(tenant.admin_key)
    assert (again.status_code, again.json) == (404, hidden.json)
    assert again.headers["Idempotent-Replayed"] == "true"
    with owner_engine.connect() as conn:
        kept = dict(conn.execute(text(
            "SELECT tenant_id, response ? 'refused' FROM idempotency_keys")).all())
    assert kept == {tenant.id: True, other_tenant.id: False}


def patch_patient(client, key, patient_id, body, idem, version):
    return client.patch(f"/api/v1/patients/{patient_id}", json=body, headers={
        **bearer(key), "Idempotency-Key": idem, "If-Match": f'"{version}"'})


def test_a_stale_if_match_refusal_is_replayed(app, client, tenant, owner_engine):
    with app.app_context():
        patient_id = PatientFactory(tenant_id=tenant.id).id
    assert patch_patient(client, tenant.admin_key, patient_id, {"sex": "other"},
                         "p-1", 1).status_code == 200
    stale = patch_patient(client, tenant.admin_key, patient_id, {"sex": "male"}, "p-2", 1)
    assert stale.status_code == 412
    assert stale.json["current_version"] == 2

    again = patch_patient(client, tenant.admin_key, patient_id, {"sex": "male"}, "p-2", 1)
    assert (again.status_code, again.json) == (412, stale.json)
    assert again.headers["Idempotent-Replayed"] == "true"
    # The key identifies the request by its body: a corrected If-Match with the same key
    # still meets the first answer (a retry after a 412 is a new request, a new key).
    fixed = patch_patient(client, tenant.admin_key, patient_id, {"sex": "male"}, "p-2", 2)
    assert (fixed.status_code, fixed.json) == (412, stale.json)
    assert fixed.headers["Idempotent-Replayed"] == "true"
    current = client.get(f"/api/v1/patients/{patient_id}", headers=bearer(tenant.admin_key))
    assert (current.json["sex"], current.json["version"]) == ("other", 2)
    assert count(owner_engine, "SELECT count(*) FROM outbox WHERE type = 'patient.updated'") == 1


def test_a_request_refused_by_validation_keeps_nothing(client, tenant, provider,
                                                       other_patient, owner_engine):
    headers = {**bearer(tenant.admin_key), "Idempotency-Key": "b-1"}
    invalid = client.post("/api/v1/appointments", headers=headers,
                          json={"provider_id": str(provider.id), "start": "soon"})
    assert invalid.status_code == 422
    assert count(owner_engine, "SELECT count(*) FROM idempotency_keys") == 0
    # Nothing was kept for the key, so the corrected request (another body) runs.
    fixed = book_with_key(client, tenant.admin_key, provider, other_patient, at(10), "b-1")
    assert fixed.status_code == 201
    assert "Idempotent-Replayed" not in fixed.headers


def test_a_handlers_422_releases_the_key(client, tenant, owner_engine):
    """A field the handler finds unacceptable is the request's fault: a retry runs."""
    headers = {**bearer(tenant.admin_key), "Idempotency-Key": "k-1"}
    no_provider = {"name": "dr", "role": "provider"}
    for _ in range(2):
        refused = client.post("/api/v1/api-keys", json=no_provider, headers=headers)
        assert refused.status_code == 422
        assert "provider_id" in refused.json["errors"]
        assert "Idempotent-Replayed" not in refused.headers
    assert count(owner_engine, "SELECT count(*) FROM audit_log "
                 "WHERE outcome = 'refused:validation-error'") == 2
    fixed = client.post("/api/v1/api-keys", json={"name": "dr", "role": "staff"},
                        headers=headers)
    assert fixed.status_code == 201

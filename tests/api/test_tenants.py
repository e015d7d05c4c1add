"""Tenants (platform) and API keys (tenant admins) through HTTP."""

import uuid

from sqlalchemy import text

from tests.conftest import bearer
from tests.factories import ApiKeyFactory
from vitalbridge.messaging.messages import Role


def create_tenant(client, key, **overrides):
    body = {"name": "North Clinic", "slug": "north", "timezone": "Europe/Paris", **overrides}
    return client.post("/api/v1/tenants", json=body, headers=bearer(key))


def test_platform_admin_creates_lists_and_gets_tenants(client, platform_key):
    created = create_tenant(client, platform_key)
    assert created.status_code == 201
    assert set(created.json) == {"id", "version"}
    assert created.headers["Location"].endswith(f"/api/v1/tenants/{created.json['id']}")

    one = client.get(created.headers["Location"], headers=bearer(platform_key))
    assert one.status_code == 200
    assert one.headers["ETag"] == '"1"'
    assert one.json["slug"] == "north"
    assert one.json["updated_at"].endswith("Z")

    listed = client.get("/api/v1/tenants", headers=bearer(platform_key))
    assert [t["slug"] for t in listed.json["items"]] == ["north"]
    assert listed.json["next_cursor"] is None


def test_tenant_creation_emits_tenant_created(client, platform_key, owner_engine):
    tenant_id = create_tenant(client, platform_key).json["id"]
    with owner_engine.connect() as conn:
        envelope = conn.execute(text(
            "SELECT envelope FROM outbox WHERE type = 'tenant.created'")).scalar_one()
    assert envelope["tenant_id"] == tenant_id
    assert envelope["aggregate_id"] == tenant_id
    assert envelope["data"] == {"name": "North Clinic", "slug": "north",
                                "timezone": "Europe/Paris"}
    assert envelope["actor"]["role"] == "platform_admin"


def test_slug_taken_is_409(client, platform_key):
    create_tenant(client, platform_key)
    response = create_tenant(client, platform_key, name="Other")
    assert response.status_code == 409
    assert response.json["type"].endswith("slug-taken")


def test_tenants_paginate_with_a_cursor(client, platform_key):
    for n in range(5):
        create_tenant(client, platform_key, slug=f"clinic-{n}")
    seen, cursor = [], None
    while True:
        url = "/api/v1/tenants?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url, headers=bearer(platform_key)).json
        seen += [t["slug"] for t in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"clinic-{n}" for n in range(5)]


def test_unknown_tenant_is_404(client, platform_key):
    response = client.get(f"/api/v1/tenants/{uuid.uuid4()}", headers=bearer(platform_key))
    assert response.status_code == 404


def test_admin_creates_a_key_that_works_and_is_shown_once(client, tenant):
    response = client.post("/api/v1/api-keys", json={"name": "desk", "role": "staff"},
                           headers=bearer(tenant.admin_key))
    assert response.status_code == 201
    secret = response.json["key"]
    listed = client.get("/api/v1/api-keys", headers=bearer(tenant.admin_key)).json["items"]
    assert {k["name"] for k in listed} == {"first admin key", "desk"}
    assert all("key" not in k and "secret_hash" not in k for k in listed)
    # A staff key authenticates, but may not manage keys.
    assert client.get("/api/v1/api-keys", headers=bearer(secret)).status_code == 403


def test_a_new_keys_location_answers_the_key_without_its_secret(client, tenant):
    created = client.post("/api/v1/api-keys", json={"name": "desk", "role": "staff"},
                          headers=bearer(tenant.admin_key))
    location = created.headers["Location"]
    assert location.endswith(f"/api/v1/api-keys/{created.json['id']}")
    one = client.get(location, headers=bearer(tenant.admin_key))
    assert one.status_code == 200
    assert one.headers["ETag"] == '"1"'
    assert one.json["name"] == "desk"
    assert one.json["role"] == "staff"
    assert one.json["revoked_at"] is None
    assert one.json["updated_at"] == one.json["created_at"]
    assert "key" not in one.json
    assert "secret_hash" not in one.json
    assert client.get(location, headers=bearer(created.json["key"])).status_code == 403
    client.post(f"{location}/revoke", headers=bearer(tenant.admin_key))
    revoked = client.get(location, headers=bearer(tenant.admin_key)).json
    assert revoked["updated_at"] == revoked["revoked_at"] is not None


def test_only_the_hash_of_a_secret_is_stored(client, tenant, owner_engine):
    secret = tenant.admin_key.rsplit("_", 1)[1]
    with owner_engine.connect() as conn:
        hashes = conn.execute(text("SELECT secret_hash FROM api_keys")).scalars().all()
    assert hashes
    assert all(secret not in h for h in hashes)


def test_a_replayed_key_creation_answers_without_the_secret(client, tenant, owner_engine):
    headers = {**bearer(tenant.admin_key), "Idempotency-Key": "new-desk-key"}
    body = {"name": "desk", "role": "staff"}
    first = client.post("/api/v1/api-keys", json=body, headers=headers)
    again = client.post("/api/v1/api-keys", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == {"id": first.get_json()["id"], "version": 1}
    secret = first.get_json()["key"].rsplit("_", 1)[1]
    with owner_engine.connect() as conn:
        stored = conn.execute(text("SELECT response::text FROM idempotency_keys")).scalars().all()
    assert stored
    assert all(secret not in response for response in stored)


def test_provider_role_needs_a_provider_id(client, tenant):
    response = client.post("/api/v1/api-keys", json={"name": "dr", "role": "provider"},
                           headers=bearer(tenant.admin_key))
    assert response.status_code == 422
    assert "provider_id" in response.json["errors"]
    response = client.post("/api/v1/api-keys", headers=bearer(tenant.admin_key), json={
        "name": "desk", "role": "staff", "provider_id": str(uuid.uuid4())})
    assert response.status_code == 422


def test_unknown_role_is_422(client, tenant):
    response = client.post("/api/v1/api-keys", json={"name": "x", "role": "platform_admin"},
                           headers=bearer(tenant.admin_key))
    assert response.status_code == 422
    assert "role" in response.json["errors"]


def test_revoked_key_stops_working_at_once(client, app, tenant):
    with app.app_context():
        staff = ApiKeyFactory(tenant_id=tenant.id, role=Role.READONLY)
    headers = bearer(tenant.admin_key)
    assert client.post(f"/api/v1/api-keys/{staff.id}/revoke", headers=headers).json == {
        "id": str(staff.id), "version": 2, "status": "revoked"}
    assert client.get("/api/v1/api-keys", headers=bearer(staff.key)).status_code == 401
    again = client.post(f"/api/v1/api-keys/{staff.id}/revoke", headers=headers)
    assert again.status_code == 200
    assert again.json["version"] == 2


def test_another_tenants_key_is_404(client, tenant, other_tenant):
    listed = client.get("/api/v1/api-keys", headers=bearer(other_tenant.admin_key)).json
    foreign_key_id = listed["items"][0]["id"]
    response = client.post(f"/api/v1/api-keys/{foreign_key_id}/revoke",
                           headers=bearer(tenant.admin_key))
    assert response.status_code == 404
    assert client.get(f"/api/v1/api-keys/{foreign_key_id}",
                      headers=bearer(tenant.admin_key)).status_code == 404
    assert client.get("/api/v1/api-keys",
                      headers=bearer(other_tenant.admin_key)).status_code == 200


def test_tenant_admin_sees_only_its_own_keys(client, tenant, other_tenant):
    mine = client.get("/api/v1/api-keys", headers=bearer(tenant.admin_key)).json["items"]
    theirs = client.get("/api/v1/api-keys",
                        headers=bearer(other_tenant.admin_key)).json["items"]
    assert {k["id"] for k in mine}.isdisjoint({k["id"] for k in theirs})
    assert len(mine) == len(theirs) == 1


def test_platform_key_cannot_use_tenant_endpoints(client, platform_key):
    assert client.get("/api/v1/api-keys", headers=bearer(platform_key)).status_code == 403


def test_the_last_admin_key_cannot_be_revoked(client, app, tenant):
    admin_id = client.get("/api/v1/api-keys", headers=bearer(tenant.admin_key)).json[
        "items"][0]["id"]
    refused = client.post(f"/api/v1/api-keys/{admin_id}/revoke",
                          headers=bearer(tenant.admin_key))
    assert refused.status_code == 409
    assert refused.json["type"].endswith("last-admin-key")
    with app.app_context():
        second = ApiKeyFactory(tenant_id=tenant.id, role=Role.ADMIN)
    allowed = client.post(f"/api/v1/api-keys/{admin_id}/revoke", headers=bearer(second.key))
    assert allowed.status_code == 200


def test_provider_keys_are_bound_to_an_existing_active_provider(client, app, tenant,
                                                                other_tenant):
    from tests.provider_factories import ProviderFactory

    with app.app_context():
        provider = ProviderFactory(tenant_id=tenant.id)
        foreign = ProviderFactory(tenant_id=other_tenant.id)
    headers = bearer(tenant.admin_key)
    ok = client.post("/api/v1/api-keys", headers=headers, json={
        "name": "dr", "role": "provider", "provider_id": str(provider.id)})
    assert ok.status_code == 201
    for unknown in (uuid.uuid4(), foreign.id):
        refused = client.post("/api/v1/api-keys", headers=headers, json={
            "name": "dr", "role": "provider", "provider_id": str(unknown)})
        assert refused.status_code == 422
        assert "provider_id" in refused.json["errors"]
    client.post(f"/api/v1/providers/{provider.id}/deactivate", headers=headers)
    inactive = client.post("/api/v1/api-keys", headers=headers, json={
        "name": "dr", "role": "provider", "provider_id": str(provider.id)})
    assert inactive.status_code == 422


def test_a_deactivated_providers_keys_are_revoked_by_the_relay(client, app, tenant,
                                                                owner_engine):
    from sqlalchemy import text as sql

    from tests.provider_factories import ProviderFactory
    from vitalbridge.messaging.cli import build_relay

    with app.app_context():
        provider = ProviderFactory(tenant_id=tenant.id)
    headers = bearer(tenant.admin_key)
    key = client.post("/api/v1/api-keys", headers=headers, json={
        "name": "dr", "role": "provider", "provider_id": str(provider.id)}).json["key"]
    assert client.get(f"/api/v1/providers/{provider.id}", headers=bearer(key)).status_code == 200
    client.post(f"/api/v1/providers/{provider.id}/deactivate", headers=headers)
    with app.app_context():
        relay = build_relay()
        relay.drain()
        relay.drain()  # redelivery changes nothing more
    assert client.get(f"/api/v1/providers/{provider.id}", headers=bearer(key)).status_code == 401
    with owner_engine.connect() as conn:
        revocations = conn.execute(sql(
            "SELECT count(*) FROM outbox WHERE type = 'api_key.revoked'")).scalar_one()
    assert revocations == 1

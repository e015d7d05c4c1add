"""Providers through HTTP: add, update, deactivate, their events, roles and isolation."""

import uuid

import pytest
from sqlalchemy import text

from tests.conftest import bearer
from tests.factories import ApiKeyFactory, TenantFactory
from tests.provider_factories import ProviderFactory
from vitalbridge.messaging.messages import Role

BODY = {"given_name": "José", "family_name": "García", "specialty": "Cardiology",
        "email": "jose.garcia@example.org", "phone": "+1 202 555 0123",
        "timezone": "Europe/Madrid"}


def add(client, key, **overrides):
    body = {**BODY, **overrides}
    return client.post("/api/v1/providers", json=body, headers=bearer(key))


def events(owner_engine, type_=None):
    sql = "SELECT envelope FROM outbox WHERE type LIKE 'provider.%'"
    if type_:
        sql = "SELECT envelope FROM outbox WHERE type = :t"
    with owner_engine.connect() as conn:
        return conn.execute(text(sql + " ORDER BY seq"), {"t": type_}).scalars().all()


def key_for(app, tenant, role, **kwargs):
    with app.app_context():
        return ApiKeyFactory(tenant_id=tenant.id, role=role, **kwargs).key


@pytest.fixture
def provider(app, tenant):
    with app.app_context():
        return ProviderFactory(tenant_id=tenant.id, given_name="Ana", family_name="Silva")


# Add --------------------------------------------------------------------------------


def test_admin_adds_a_provider_and_reads_it_back(client, tenant):
    created = add(client, tenant.admin_key)
    assert created.status_code == 201
    assert created.json == {"id": created.json["id"], "version": 1}
    assert created.headers["ETag"] == '"1"'
    assert created.headers["Location"].endswith(f"/api/v1/providers/{created.json['id']}")

    one = client.get(created.headers["Location"], headers=bearer(tenant.admin_key))
    assert one.status_code == 200
    assert one.headers["ETag"] == '"1"'
    assert one.json["given_name"] == "José"
    assert one.json["display_name"] == "José García"
    assert one.json["phone"] == "+12025550123"
    assert one.json["timezone"] == "Europe/Madrid"
    assert one.json["active"] is True
    assert one.json["status"] == "active"
    assert one.json["deactivated_at"] is None
    assert one.json["updated_at"].endswith("Z")
    assert "tenant_id" not in one.json


def test_provider_created_event_carries_the_provider_fields(client, tenant, owner_engine):
    provider_id = add(client, tenant.admin_key).json["id"]
    [envelope] = events(owner_engine, "provider.created")
    assert envelope["tenant_id"] == str(tenant.id)
    assert envelope["aggregate_type"] == "provider"
    assert envelope["aggregate_id"] == provider_id
    assert envelope["actor"]["role"] == "admin"
    assert envelope["data"] == {
        "given_name": "José", "family_name": "García", "specialty": "Cardiology",
        "email": "jose.garcia@example.org", "phone": "+12025550123",
        "timezone": "Europe/Madrid", "active": True}


def test_names_are_trimmed(client, tenant):
    created = add(client, tenant.admin_key, given_name="  Ana ", specialty=" Oncology\t")
    one = client.get(created.headers["Location"], headers=bearer(tenant.admin_key)).json
    assert (one["given_name"], one["specialty"]) == ("Ana", "Oncology")


@pytest.mark.parametrize("zone", ["Asia/Kathmandu", "Pacific/Chatham"])
def test_timezone_defaults_to_the_tenants(client, app, zone, owner_engine):
    with app.app_context():
        clinic = TenantFactory(timezone=zone)
    for body in ({k: v for k, v in BODY.items() if k != "timezone"}, {**BODY, "timezone": None}):
        created = client.post("/api/v1/providers", json=body, headers=bearer(clinic.admin_key))
        assert created.status_code == 201
        one = client.get(created.headers["Location"], headers=bearer(clinic.admin_key)).json
        assert one["timezone"] == zone
    assert {e["data"]["timezone"] for e in events(owner_engine, "provider.created")} == {zone}


def test_optional_fields_may_be_left_out(client, tenant):
    body = {"given_name": "Ana", "family_name": "Silva", "specialty": "GP"}
    created = client.post("/api/v1/providers", json=body, headers=bearer(tenant.admin_key))
    assert created.status_code == 201
    one = client.get(created.headers["Location"], headers=bearer(tenant.admin_key)).json
    assert (one["email"], one["phone"]) == (None, None)


@pytest.mark.parametrize(("field", "value"), [
    ("given_name", None), ("given_name", ""), ("given_name", "   "), ("given_name", "x" * 101),
    ("family_name", ""), ("family_name", 7), ("specialty", ""), ("specialty", "y" * 101),
    ("email", "not-an-email"), ("phone", "12"), ("phone", "call me"),
    ("timezone", "Mars/Olympus"), ("timezone", "EST5"),
])
def test_a_bad_field_is_422_naming_it(client, tenant, owner_engine, field, value):
    response = add(client, tenant.admin_key, **{field: value})
    assert response.status_code == 422
    assert response.headers["Content-Type"] == "application/problem+json"
    assert list(response.json["errors"]) == [field]
    assert events(owner_engine) == []


@pytest.mark.parametrize("field", ["given_name", "family_name", "specialty"])
def test_a_missing_required_field_is_422_naming_it(client, tenant, field):
    body = {k: v for k, v in BODY.items() if k != field}
    response = client.post("/api/v1/providers", json=body, headers=bearer(tenant.admin_key))
    assert response.status_code == 422
    assert field in response.json["errors"]


def test_every_bad_field_is_named_at_once(client, tenant):
    response = client.post("/api/v1/providers", headers=bearer(tenant.admin_key), json={
        "given_name": "", "specialty": "x" * 101, "email": "nope", "timezone": "Nowhere"})
    assert response.status_code == 422
    assert set(response.json["errors"]) == {
        "given_name", "family_name", "specialty", "email", "timezone"}


@pytest.mark.parametrize(("field", "value"), [
    ("tenant_id", str(uuid.uuid4())), ("id", str(uuid.uuid4())), ("active", False),
    ("version", 9), ("deactivated_at", "2027-01-01T00:00:00Z"), ("nickname", "Doc"),
])
def test_no_mass_assignment(client, tenant, other_tenant, owner_engine, field, value):
    response = add(client, tenant.admin_key, **{field: value})
    assert response.status_code == 422
    assert field in response.json["errors"]
    with owner_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM providers")).scalar_one() == 0


# Update -----------------------------------------------------------------------------


def patch(client, key, provider_id, body, **headers):
    return client.patch(f"/api/v1/providers/{provider_id}", json=body,
                        headers={**bearer(key), **headers})


def test_update_changes_only_the_fields_sent(client, tenant, provider, owner_engine):
    response = patch(client, tenant.admin_key, provider.id,
                     {"specialty": "Neurology", "phone": "+44 20 7946 0958"})
    assert response.status_code == 200
    assert response.json == {"id": str(provider.id), "version": 2}
    assert response.headers["ETag"] == '"2"'
    one = client.get(f"/api/v1/providers/{provider.id}", headers=bearer(tenant.admin_key))
    assert one.headers["ETag"] == '"2"'
    assert (one.json["specialty"], one.json["phone"]) == ("Neurology", "+442079460958")
    assert one.json["given_name"] == "Ana"
    assert one.json["updated_at"] > one.json["created_at"]
    [envelope] = events(owner_engine, "provider.updated")
    assert envelope["aggregate_id"] == str(provider.id)
    assert envelope["data"] == {"changes": {"specialty": "Neurology",
                                            "phone": "+442079460958"}}


def test_null_clears_email(client, tenant, provider, owner_engine):
    assert patch(client, tenant.admin_key, provider.id, {"email": None}).status_code == 200
    one = client.get(f"/api/v1/providers/{provider.id}", headers=bearer(tenant.admin_key))
    assert one.json["email"] is None
    assert events(owner_engine, "provider.updated")[0]["data"] == {"changes": {"email": None}}


def test_an_update_that_changes_nothing_bumps_nothing(client, tenant, provider, owner_engine):
    response = patch(client, tenant.admin_key, provider.id, {"given_name": " Ana "})
    assert response.status_code == 200
    assert response.json["version"] == 1
    assert events(owner_engine, "provider.updated") == []


def test_if_match_current_is_200_and_stale_is_412(client, tenant, provider, owner_engine):
    current = patch(client, tenant.admin_key, provider.id, {"given_name": "Anna"},
                    **{"If-Match": '"1"'})
    assert current.status_code == 200
    assert current.json["version"] == 2
    stale = patch(client, tenant.admin_key, provider.id, {"given_name": "Annie"},
                  **{"If-Match": '"1"'})
    assert stale.status_code == 412
    assert stale.json["type"].endswith("precondition-failed")
    one = client.get(f"/api/v1/providers/{provider.id}", headers=bearer(tenant.admin_key))
    assert one.json["given_name"] == "Anna"
    assert len(events(owner_engine, "provider.updated")) == 1


def test_a_malformed_if_match_is_422(client, tenant, provider):
    response = patch(client, tenant.admin_key, provider.id, {"given_name": "A"},
                     **{"If-Match": "yesterday"})
    assert response.status_code == 422
    assert "If-Match" in response.json["errors"]


@pytest.mark.parametrize("body", [{}, None])
def test_an_empty_patch_is_422(client, tenant, provider, body):
    response = client.patch(f"/api/v1/providers/{provider.id}", json=body,
                            headers=bearer(tenant.admin_key))
    assert response.status_code == 422
    assert response.json["errors"]


@pytest.mark.parametrize(("field", "value"), [
    ("given_name", None), ("family_name", " "), ("specialty", "z" * 101), ("timezone", None),
    ("timezone", "Europe/Atlantis"), ("email", "a@"), ("phone", "555"),
    ("active", True), ("tenant_id", str(uuid.uuid4())), ("version", 5),
])
def test_a_bad_patch_field_is_422_naming_it(client, tenant, provider, owner_engine, field,
                                            value):
    response = patch(client, tenant.admin_key, provider.id, {field: value})
    assert response.status_code == 422
    assert list(response.json["errors"]) == [field]
    assert events(owner_engine, "provider.updated") == []


def test_updating_an_unknown_provider_is_404(client, tenant, owner_engine):
    response = patch(client, tenant.admin_key, uuid.uuid4(), {"given_name": "X"})
    assert response.status_code == 404
    assert events(owner_engine) == []


# Deactivate -------------------------------------------------------------------------


def test_deactivate_then_again_is_idempotent(client, tenant, provider, owner_engine):
    url = f"/api/v1/providers/{provider.id}/deactivate"
    first = client.post(url, headers={**bearer(tenant.admin_key), "If-Match": '"1"'})
    assert first.status_code == 200
    assert first.json == {"id": str(provider.id), "version": 2, "status": "inactive"}
    # A retry with the same (now stale) If-Match is the same harmless answer, not a 412.
    again = client.post(url, headers={**bearer(tenant.admin_key), "If-Match": '"1"'})
    assert again.status_code == 200
    assert again.json == first.json
    [envelope] = events(owner_engine, "provider.deactivated")
    assert envelope["aggregate_id"] == str(provider.id)
    assert envelope["data"] == {}
    one = client.get(f"/api/v1/providers/{provider.id}", headers=bearer(tenant.admin_key)).json
    assert (one["active"], one["status"], one["version"]) == (False, "inactive", 2)
    assert one["deactivated_at"].endswith("Z")


def test_deactivate_with_a_stale_if_match_is_412(client, tenant, provider, owner_engine):
    patch(client, tenant.admin_key, provider.id, {"given_name": "Anna"})
    response = client.post(f"/api/v1/providers/{provider.id}/deactivate",
                           headers={**bearer(tenant.admin_key), "If-Match": '"1"'})
    assert response.status_code == 412
    assert events(owner_engine, "provider.deactivated") == []


def test_deactivating_an_unknown_provider_is_404(client, tenant):
    response = client.post(f"/api/v1/providers/{uuid.uuid4()}/deactivate",
                           headers=bearer(tenant.admin_key))
    assert response.status_code == 404


# Roles and tenants ------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.STAFF, Role.READONLY])
def test_only_admins_change_providers(client, app, tenant, provider, owner_engine, role):
    key = key_for(app, tenant, role)
    assert add(client, key).status_code == 403
    assert patch(client, key, provider.id, {"given_name": "X"}).status_code == 403
    assert client.post(f"/api/v1/providers/{provider.id}/deactivate",
                       headers=bearer(key)).status_code == 403
    assert events(owner_engine, "provider.updated") == []
    assert len(events(owner_engine)) == 1  # the fixture's provider.created only


def test_a_provider_key_reads_but_does_not_write(client, app, tenant, provider):
    key = key_for(app, tenant, Role.PROVIDER, provider_id=provider.id)
    assert client.get(f"/api/v1/providers/{provider.id}", headers=bearer(key)).status_code == 200
    assert client.get("/api/v1/providers", headers=bearer(key)).status_code == 200
    assert add(client, key).status_code == 403


def test_platform_admin_has_no_providers(client, platform_key):
    assert client.get("/api/v1/providers", headers=bearer(platform_key)).status_code == 403
    assert add(client, platform_key).status_code == 403


def test_no_key_is_401(client, provider):
    assert client.get("/api/v1/providers").status_code == 401
    assert client.post("/api/v1/providers", json=BODY).status_code == 401


def test_another_tenants_provider_is_404_everywhere(client, tenant, other_tenant, provider,
                                                    owner_engine):
    foreign = bearer(other_tenant.admin_key)
    url = f"/api/v1/providers/{provider.id}"
    assert client.get(url, headers=foreign).status_code == 404
    assert client.patch(url, json={"given_name": "X"}, headers=foreign).status_code == 404
    assert client.post(f"{url}/deactivate", headers=foreign).status_code == 404
    assert client.get("/api/v1/providers", headers=foreign).json["items"] == []
    assert len(events(owner_engine)) == 1
    mine = client.get(url, headers=bearer(tenant.admin_key)).json
    assert (mine["given_name"], mine["active"], mine["version"]) == ("Ana", True, 1)


def test_idempotency_key_replays_the_add(client, tenant, owner_engine):
    headers = {**bearer(tenant.admin_key), "Idempotency-Key": "add-ana"}
    first = client.post("/api/v1/providers", json=BODY, headers=headers)
    second = client.post("/api/v1/providers", json=BODY, headers=headers)
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json == second.json
    assert second.headers["Location"] == first.headers["Location"]
    assert second.headers["Idempotent-Replayed"] == "true"
    assert len(events(owner_engine, "provider.created")) == 1

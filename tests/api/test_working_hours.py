"""Working hours and date overrides through HTTP: commands, events, 422s, roles, tenants."""

import uuid

import pytest
from sqlalchemy import text

from tests.conftest import bearer
from tests.factories import ApiKeyFactory
from tests.provider_factories import ProviderFactory
from vitalbridge.messaging.messages import Role

RULES = [{"weekday": 0, "start": "09:00", "end": "12:30"},
         {"weekday": 0, "start": "13:30", "end": "17:00"},
         {"weekday": 4, "start": "08:00", "end": "24:00"}]


def events(owner_engine, type_):
    with owner_engine.connect() as conn:
        return conn.execute(text("SELECT envelope FROM outbox WHERE type = :t ORDER BY seq"),
                            {"t": type_}).scalars().all()


def key_for(app, tenant, role, **kwargs):
    with app.app_context():
        return ApiKeyFactory(tenant_id=tenant.id, role=role, **kwargs).key


@pytest.fixture
def provider(app, tenant):
    with app.app_context():
        return ProviderFactory(tenant_id=tenant.id, timezone="Europe/Paris")


def put_hours(client, key, provider_id, body, **headers):
    return client.put(f"/api/v1/providers/{provider_id}/working-hours", json=body,
                      headers={**bearer(key), **headers})


def put_override(client, key, provider_id, day, body):
    return client.put(f"/api/v1/providers/{provider_id}/overrides/{day}", json=body,
                      headers=bearer(key))


# Working hours ------------------------------------------------------------------------


def test_set_working_hours_then_read_them(client, tenant, provider, owner_engine):
    response = put_hours(client, tenant.admin_key, provider.id, {"rules": RULES})
    assert response.status_code == 200
    assert response.json == {"id": str(provider.id), "version": 1}
    one = client.get(f"/api/v1/providers/{provider.id}/working-hours",
                     headers=bearer(tenant.admin_key))
    assert one.status_code == 200
    assert one.headers["ETag"] == '"1"'
    assert one.json["timezone"] == "Europe/Paris"  # the provider's, by default
    assert one.json["effective_from"] is None
    assert one.json["rules"] == RULES
    assert one.json["updated_at"].endswith("Z")
    [envelope] = events(owner_engine, "schedule.working_hours_set")
    assert envelope["aggregate_id"] == str(provider.id)
    assert envelope["data"] == {"timezone": "Europe/Paris", "effective_from": None,
                                "rules": RULES}


def test_setting_again_replaces_every_rule(client, tenant, provider, owner_engine):
    put_hours(client, tenant.admin_key, provider.id, {"rules": RULES})
    body = {"timezone": "Asia/Tokyo", "effective_from": "2027-01-04",
            "rules": [{"weekday": 2, "start": "10:00", "end": "11:00"}]}
    response = put_hours(client, tenant.admin_key, provider.id, body)
    assert response.json["version"] == 2
    one = client.get(f"/api/v1/providers/{provider.id}/working-hours",
                     headers=bearer(tenant.admin_key)).json
    assert (one["timezone"], one["effective_from"], one["rules"]) == (
        "Asia/Tokyo", "2027-01-04", body["rules"])
    assert len(events(owner_engine, "schedule.working_hours_set")) == 2


def test_unset_working_hours_are_404(client, tenant, provider):
    response = client.get(f"/api/v1/providers/{provider.id}/working-hours",
                          headers=bearer(tenant.admin_key))
    assert response.status_code == 404


@pytest.mark.parametrize(("rules", "bad"), [
    ([{"weekday": 1, "start": "12:00", "end": "09:00"}], {"rules.0"}),
    ([{"weekday": 1, "start": "09:00", "end": "09:00"}], {"rules.0"}),
    ([{"weekday": 1, "start": "09:00", "end": "12:00"},
      {"weekday": 2, "start": "09:00", "end": "12:00"},
      {"weekday": 1, "start": "11:00", "end": "13:00"}], {"rules.2"}),
    ([{"weekday": 7, "start": "09:00", "end": "12:00"}], {"rules.0.weekday"}),
    ([{"weekday": -1, "start": "09:00", "end": "12:00"}], {"rules.0.weekday"}),
    ([{"weekday": 1, "start": "9am", "end": "12:00"}], {"rules.0.start"}),
    ([{"weekday": 1, "start": "09:00", "end": "25:00"}], {"rules.0.end"}),
    ([{"weekday": 1, "start": "09:00:00", "end": "12:00"}], {"rules.0.start"}),
    ([{"weekday": 1, "start": "09:00"}], {"rules.0.end"}),
])
def test_bad_rules_are_422_naming_each(client, tenant, provider, owner_engine, rules, bad):
    response = put_hours(client, tenant.admin_key, provider.id, {"rules": rules})
    assert response.status_code == 422
    assert set(response.json["errors"]) == bad
    assert events(owner_engine, "schedule.working_hours_set") == []


@pytest.mark.parametrize(("body", "field"), [
    ({}, "rules"), ({"rules": RULES, "timezone": "Mars/Base"}, "timezone"),
    ({"rules": RULES, "effective_from": "soon"}, "effective_from"),
    ({"rules": RULES, "tenant_id": str(uuid.uuid4())}, "tenant_id"),
])
def test_bad_fields_are_422(client, tenant, provider, body, field):
    response = put_hours(client, tenant.admin_key, provider.id, body)
    assert response.status_code == 422
    assert field in response.json["errors"]


def test_if_match_stale_is_412(client, tenant, provider, owner_engine):
    put_hours(client, tenant.admin_key, provider.id, {"rules": RULES})
    ok = put_hours(client, tenant.admin_key, provider.id, {"rules": []}, **{"If-Match": '"1"'})
    assert ok.status_code == 200
    stale = put_hours(client, tenant.admin_key, provider.id, {"rules": RULES},
                      **{"If-Match": '"1"'})
    assert stale.status_code == 412
    assert len(events(owner_engine, "schedule.working_hours_set")) == 2


def test_unknown_provider_is_404_and_inactive_is_409(client, tenant, provider, owner_engine):
    assert put_hours(client, tenant.admin_key, uuid.uuid4(), {"rules": RULES}).status_code == 404
    client.post(f"/api/v1/providers/{provider.id}/deactivate", headers=bearer(tenant.admin_key))
    response = put_hours(client, tenant.admin_key, provider.id, {"rules": RULES})
    assert response.status_code == 409
    assert response.json["type"].endswith("provider-inactive")
    closed = put_override(client, tenant.admin_key, provider.id, "2027-03-15", {"closed": True})
    assert closed.status_code == 409
    assert events(owner_engine, "schedule.working_hours_set") == []


def test_provider_key_sets_its_own_hours_only(client, app, tenant, provider, owner_engine):
    with app.app_context():
        other = ProviderFactory(tenant_id=tenant.id)
    key = key_for(app, tenant, Role.PROVIDER, provider_id=provider.id)
    assert put_hours(client, key, provider.id, {"rules": RULES}).status_code == 200
    assert put_hours(client, key, other.id, {"rules": RULES}).status_code == 403
    assert put_override(client, key, other.id, "2027-03-15", {"closed": True}).status_code == 403
    assert client.get(f"/api/v1/providers/{other.id}/working-hours",
                      headers=bearer(key)).status_code == 403
    [envelope] = events(owner_engine, "schedule.working_hours_set")
    assert envelope["actor"]["role"] == "provider"


@pytest.mark.parametrize("role", [Role.STAFF, Role.READONLY])
def test_staff_and_readonly_read_but_do_not_write(client, app, tenant, provider, role):
    put_hours(client, tenant.admin_key, provider.id, {"rules": RULES})
    key = key_for(app, tenant, role)
    assert put_hours(client, key, provider.id, {"rules": RULES}).status_code == 403
    assert put_override(client, key, provider.id, "2027-03-15", {"closed": True}).status_code \
        == 403
    assert client.delete(f"/api/v1/providers/{provider.id}/overrides/2027-03-15",
                         headers=bearer(key)).status_code == 403
    assert client.get(f"/api/v1/providers/{provider.id}/working-hours",
                      headers=bearer(key)).status_code == 200


def test_another_tenant_sees_nothing(client, tenant, other_tenant, provider, owner_engine):
    put_hours(client, tenant.admin_key, provider.id, {"rules": RULES})
    foreign = other_tenant.admin_key
    assert put_hours(client, foreign, provider.id, {"rules": []}).status_code == 404
    assert client.get(f"/api/v1/providers/{provider.id}/working-hours",
                      headers=bearer(foreign)).status_code == 404
    assert put_override(client, foreign, provider.id, "2027-03-15",
                        {"closed": True}).status_code == 404
    assert len(events(owner_engine, "schedule.working_hours_set")) == 1


# Overrides ----------------------------------------------------------------------------


def test_set_replace_and_remove_an_override(client, tenant, provider, owner_engine):
    intervals = [{"start": "10:00", "end": "12:00"}]
    first = put_override(client, tenant.admin_key, provider.id, "2027-03-15",
                         {"intervals": intervals})
    assert first.status_code == 200
    assert first.json == {"id": str(provider.id), "version": 1}
    second = put_override(client, tenant.admin_key, provider.id, "2027-03-15", {"closed": True})
    assert second.json["version"] == 2
    set_events = events(owner_engine, "schedule.override_set")
    assert [e["data"] for e in set_events] == [
        {"day": "2027-03-15", "closed": False, "intervals": intervals},
        {"day": "2027-03-15", "closed": True, "intervals": []}]
    url = f"/api/v1/providers/{provider.id}/overrides/2027-03-15"
    removed = client.delete(url, headers=bearer(tenant.admin_key))
    assert removed.status_code == 200
    [envelope] = events(owner_engine, "schedule.override_removed")
    assert envelope["data"] == {"day": "2027-03-15"}
    assert client.delete(url, headers=bearer(tenant.admin_key)).status_code == 404


@pytest.mark.parametrize(("body", "field"), [
    ({}, "body"), ({"intervals": [{"start": "09:00", "end": "10:00"}], "closed": True}, "body"),
    ({"closed": False}, "closed"), ({"intervals": []}, "intervals"),
    ({"intervals": [{"start": "11:00", "end": "10:00"}]}, "intervals.0"),
    ({"intervals": [{"start": "09:00", "end": "11:00"}, {"start": "10:00", "end": "12:00"}]},
     "intervals.1"),
    ({"intervals": [{"start": "noon", "end": "13:00"}]}, "intervals.0.start"),
])
def test_bad_overrides_are_422(client, tenant, provider, owner_engine, body, field):
    response = put_override(client, tenant.admin_key, provider.id, "2027-03-15", body)
    assert response.status_code == 422
    assert field in response.json["errors"]
    assert events(owner_engine, "schedule.override_set") == []


@pytest.mark.parametrize("day", ["2027-02-30", "20270315", "tomorrow"])
def test_a_bad_date_in_the_path_is_422(client, tenant, provider, day):
    response = put_override(client, tenant.admin_key, provider.id, day, {"closed": True})
    assert response.status_code == 422
    assert "date" in response.json["errors"]


def test_provider_key_manages_its_own_overrides(client, app, tenant, provider):
    key = key_for(app, tenant, Role.PROVIDER, provider_id=provider.id)
    assert put_override(client, key, provider.id, "2027-03-15", {"closed": True}).status_code \
        == 200
    assert client.delete(f"/api/v1/providers/{provider.id}/overrides/2027-03-15",
                         headers=bearer(key)).status_code == 200

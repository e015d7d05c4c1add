"""Tenant settings through HTTP: defaults, updates and their event, If-Match, validation,
roles, tenant isolation and idempotent retries."""

import pytest
from sqlalchemy import text

from tests.conftest import bearer
from tests.factories import ApiKeyFactory
from tests.provider_factories import ProviderFactory
from vitalbridge.messaging.messages import Role

URL = "/api/v1/settings"


def events(owner_engine):
    with owner_engine.connect() as conn:
        return conn.execute(text(
            "SELECT envelope FROM outbox WHERE type = 'tenant.settings_updated' ORDER BY seq"),
        ).scalars().all()


def saved_rows(owner_engine):
    with owner_engine.connect() as conn:
        return conn.execute(text(
            "SELECT tenant_id, min_notice_minutes, version FROM tenant_settings")).all()


def patch(client, key, body, **headers):
    return client.patch(URL, json=body, headers={**bearer(key), **headers})


def key_for(app, tenant, role):
    with app.app_context():
        provider_id = ProviderFactory(tenant_id=tenant.id).id if role == Role.PROVIDER else None
        return ApiKeyFactory(tenant_id=tenant.id, role=role, provider_id=provider_id).key


def test_a_tenant_that_never_saved_settings_gets_the_defaults(client, tenant):
    response = client.get(URL, headers=bearer(tenant.admin_key))
    assert response.status_code == 200
    assert response.json == {"min_notice_minutes": 0, "reminder_lead_minutes": [1440, 120],
                             "late_cancellation_hours": 24, "version": 0, "updated_at": None}
    assert response.headers["ETag"] == '"0"'


def test_update_saves_the_settings_and_bumps_the_version(client, tenant):
    first = patch(client, tenant.admin_key, {"min_notice_minutes": 120})
    assert first.status_code == 200
    assert first.json == {"id": str(tenant.id), "version": 1}
    assert first.headers["ETag"] == '"1"'

    saved = client.get(URL, headers=bearer(tenant.admin_key))
    assert saved.headers["ETag"] == '"1"'
    assert (saved.json["min_notice_minutes"], saved.json["version"]) == (120, 1)
    assert saved.json["updated_at"].endswith("Z")

    second = patch(client, tenant.admin_key, {"min_notice_minutes": 0})
    assert second.json == {"id": str(tenant.id), "version": 2}
    after = client.get(URL, headers=bearer(tenant.admin_key)).json
    assert (after["min_notice_minutes"], after["version"]) == (0, 2)
    assert after["updated_at"] > saved.json["updated_at"]


def test_each_update_emits_tenant_settings_updated(client, tenant, owner_engine):
    patch(client, tenant.admin_key, {"min_notice_minutes": 60})
    patch(client, tenant.admin_key, {"min_notice_minutes": 43200})
    first, second = events(owner_engine)
    assert first["tenant_id"] == first["aggregate_id"] == str(tenant.id)
    assert first["aggregate_type"] == "tenant_settings"
    # Each event states the settings as they now are.
    assert first["data"] == {"min_notice_minutes": 60, "reminder_lead_minutes": [1440, 120],
                             "late_cancellation_hours": 24}
    assert second["data"] == {"min_notice_minutes": 43200, "reminder_lead_minutes": [1440, 120],
                              "late_cancellation_hours": 24}
    assert first["actor"]["role"] == "admin"


def test_stale_if_match_is_412_and_changes_nothing(client, tenant, owner_engine):
    assert patch(client, tenant.admin_key, {"min_notice_minutes": 30},
                 **{"If-Match": '"0"'}).json["version"] == 1
    stale = patch(client, tenant.admin_key, {"min_notice_minutes": 90}, **{"If-Match": '"0"'})
    assert stale.status_code == 412
    assert stale.json["type"].endswith("precondition-failed")
    assert saved_rows(owner_engine) == [(tenant.id, 30, 1)]
    assert len(events(owner_engine)) == 1
    current = patch(client, tenant.admin_key, {"min_notice_minutes": 90},
                    **{"If-Match": 'W/"1"'})
    assert current.json["version"] == 2


def test_if_match_before_the_first_save_must_name_version_0(client, tenant, owner_engine):
    response = patch(client, tenant.admin_key, {"min_notice_minutes": 30}, **{"If-Match": '"1"'})
    assert response.status_code == 412
    assert saved_rows(owner_engine) == []
    assert events(owner_engine) == []


@pytest.mark.parametrize("body", [
    {"min_notice_minutes": -1},
    {"min_notice_minutes": 43201},
    {"min_notice_minutes": 30.5},
    {"min_notice_minutes": "30"},
    {"min_notice_minutes": True},
    {"min_notice_minutes": None},
])
def test_bad_minutes_are_422_and_change_nothing(client, tenant, owner_engine, body):
    response = patch(client, tenant.admin_key, body)
    assert response.status_code == 422
    assert "min_notice_minutes" in response.json["errors"], response.json
    assert saved_rows(owner_engine) == []
    assert events(owner_engine) == []


def test_unknown_fields_are_422(client, tenant, owner_engine):
    response = patch(client, tenant.admin_key, {"min_notice_minutes": 10, "version": 3})
    assert response.status_code == 422
    assert "version" in response.json["errors"]
    assert saved_rows(owner_engine) == []


@pytest.mark.parametrize("role", [Role.STAFF, Role.PROVIDER, Role.READONLY])
def test_every_tenant_role_reads_but_only_admins_write(client, app, tenant, owner_engine, role):
    patch(client, tenant.admin_key, {"min_notice_minutes": 15})
    key = key_for(app, tenant, role)
    read = client.get(URL, headers=bearer(key))
    assert read.status_code == 200
    assert read.json["min_notice_minutes"] == 15
    refused = patch(client, key, {"min_notice_minutes": 45})
    assert refused.status_code == 403
    assert saved_rows(owner_engine) == [(tenant.id, 15, 1)]


def test_platform_keys_are_refused(client, platform_key, owner_engine):
    assert client.get(URL, headers=bearer(platform_key)).status_code == 403
    assert patch(client, platform_key, {"min_notice_minutes": 5}).status_code == 403
    assert saved_rows(owner_engine) == []


def test_without_a_key_it_is_401(client):
    assert client.get(URL).status_code == 401
    assert client.patch(URL, json={"min_notice_minutes": 5}).status_code == 401


def test_tenants_see_and_change_only_their_own_settings(client, tenant, other_tenant,
                                                       owner_engine):
    patch(client, other_tenant.admin_key, {"min_notice_minutes": 240})
    assert client.get(URL, headers=bearer(tenant.admin_key)).json["version"] == 0

    assert patch(client, tenant.admin_key, {"min_notice_minutes": 10}).json == {
        "id": str(tenant.id), "version": 1}
    theirs = client.get(URL, headers=bearer(other_tenant.admin_key)).json
    assert (theirs["min_notice_minutes"], theirs["version"]) == (240, 1)
    ours = client.get(URL, headers=bearer(tenant.admin_key)).json
    assert (ours["min_notice_minutes"], ours["version"]) == (10, 1)
    assert sorted(saved_rows(owner_engine)) == sorted([(tenant.id, 10, 1),
                                                       (other_tenant.id, 240, 1)])


def test_an_idempotent_retry_replays_the_answer_once(client, tenant, owner_engine):
    headers = {"Idempotency-Key": "settings-1"}
    first = patch(client, tenant.admin_key, {"min_notice_minutes": 20}, **headers)
    retry = patch(client, tenant.admin_key, {"min_notice_minutes": 20}, **headers)
    assert first.status_code == retry.status_code == 200
    assert retry.json == first.json == {"id": str(tenant.id), "version": 1}
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert saved_rows(owner_engine) == [(tenant.id, 20, 1)]
    assert len(events(owner_engine)) == 1
    changed = patch(client, tenant.admin_key, {"min_notice_minutes": 25}, **headers)
    assert changed.status_code == 422
    assert changed.json["type"].endswith("idempotency-key-reused")


def test_an_empty_patch_is_422_and_changes_nothing(client, tenant, owner_engine):
    response = patch(client, tenant.admin_key, {})
    assert response.status_code == 422
    assert response.json["errors"] == {"body": ["Send at least one setting to change."]}
    assert saved_rows(owner_engine) == []


def test_each_setting_changes_alone_and_the_others_keep_their_values(client, tenant):
    key = tenant.admin_key
    assert patch(client, key, {"reminder_lead_minutes": [2880, 60]}).status_code == 200
    after_leads = client.get(URL, headers=bearer(key)).json
    assert (after_leads["min_notice_minutes"], after_leads["reminder_lead_minutes"]) == (
        0, [2880, 60])
    assert patch(client, key, {"min_notice_minutes": 90}).status_code == 200
    after_notice = client.get(URL, headers=bearer(key)).json
    assert (after_notice["min_notice_minutes"], after_notice["reminder_lead_minutes"],
            after_notice["version"]) == (90, [2880, 60], 2)
    assert patch(client, key, {"reminder_lead_minutes": []}).status_code == 200
    assert client.get(URL, headers=bearer(key)).json["reminder_lead_minutes"] == []


@pytest.mark.parametrize("leads", [[14], [20161], [60, 60], list(range(15, 26)), [60.5],
                                   ["60"], None, 60])
def test_bad_reminder_lead_times_are_422_and_change_nothing(client, tenant, owner_engine,
                                                           leads):
    response = patch(client, tenant.admin_key, {"reminder_lead_minutes": leads})
    assert response.status_code == 422
    assert any(name.startswith("reminder_lead_minutes") for name in response.json["errors"])
    assert saved_rows(owner_engine) == []


def test_lead_times_written_as_whole_floats_are_integers(client, tenant):
    # JSON Schema's integer: 60.0 is one (the document says "integer").
    assert patch(client, tenant.admin_key, {"reminder_lead_minutes": [60.0, 1440]}
                 ).status_code == 200
    assert client.get(URL, headers=bearer(tenant.admin_key)).json[
        "reminder_lead_minutes"] == [60, 1440]


def test_the_late_cancellation_threshold_is_a_setting(client, tenant):
    key = tenant.admin_key
    assert patch(client, key, {"late_cancellation_hours": 48}).status_code == 200
    saved = client.get(URL, headers=bearer(key)).json
    assert (saved["late_cancellation_hours"], saved["min_notice_minutes"]) == (48, 0)


@pytest.mark.parametrize("hours", [0, 721, 2.5, "24", None, True])
def test_bad_late_cancellation_thresholds_are_422_and_change_nothing(client, tenant,
                                                                    owner_engine, hours):
    response = patch(client, tenant.admin_key, {"late_cancellation_hours": hours})
    assert response.status_code == 422
    assert "late_cancellation_hours" in response.json["errors"]
    assert saved_rows(owner_engine) == []

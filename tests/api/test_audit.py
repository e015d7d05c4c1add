"""GET /api/v1/audit: every command of the tenant, newest first, filtered and paged."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from tests.conftest import bearer, forged_cursor
from tests.factories import ApiKeyFactory
from tests.provider_factories import ProviderFactory
from vitalbridge.messaging.messages import Role

AUDIT = "/api/v1/audit"


@pytest.fixture
def admin(app, tenant):
    """An admin key of ``tenant`` whose id is known (the fixture's first key's is not)."""
    with app.app_context():
        return ApiKeyFactory(tenant_id=tenant.id, role=Role.ADMIN)


def audit(client, key, **args):
    return client.get(AUDIT, query_string=args, headers=bearer(key))


def trail(client, key, **args):
    response = audit(client, key, limit=200, **args)
    assert response.status_code == 200, response.json
    return response.json["items"]


def create_key(client, key, name="front desk", request_id=None):
    headers = bearer(key) | ({"X-Request-ID": request_id} if request_id else {})
    response = client.post("/api/v1/api-keys", json={"name": name, "role": "staff"},
                           headers=headers)
    assert response.status_code == 201, response.json
    return uuid.UUID(response.json["id"])


def revoke_unknown_key(client, key, request_id=None):
    headers = bearer(key) | ({"X-Request-ID": request_id} if request_id else {})
    unknown = uuid.uuid4()
    response = client.post(f"/api/v1/api-keys/{unknown}/revoke", headers=headers)
    assert response.status_code == 404, response.json
    return unknown


def ids(items):
    return [item["id"] for item in items]


# --- what an entry says -------------------------------------------------------------------

def test_succeeded_and_refused_commands_appear_newest_first(client, tenant, admin):
    created = create_key(client, admin.key, request_id="req-create-1")
    unknown = revoke_unknown_key(client, admin.key, request_id="req-revoke-1")
    refused, succeeded, made_admin = trail(client, tenant.admin_key)
    assert refused == {
        "id": refused["id"], "occurred_at": refused["occurred_at"],
        "actor": {"key_id": str(admin.id), "role": "admin"},
        "command": "RevokeApiKey", "target_id": str(unknown), "outcome": "refused:not-found",
        "request_id": "req-revoke-1",
    }
    assert succeeded["actor"] == {"key_id": str(admin.id), "role": "admin"}
    assert (succeeded["command"], succeeded["target_id"], succeeded["outcome"],
            succeeded["request_id"]) == ("CreateApiKey", str(created), "succeeded",
                                         "req-create-1")
    # The factory's key was made by the app itself: no key, the system role.
    assert made_admin["actor"] == {"key_id": None, "role": "system"}
    assert made_admin["target_id"] == str(admin.id)
    stamps = [refused["occurred_at"], succeeded["occurred_at"], made_admin["occurred_at"]]
    assert all(stamp.endswith("Z") for stamp in stamps)
    assert stamps == sorted(stamps, reverse=True)


def test_the_trail_never_shows_another_tenants_entries(client, tenant, other_tenant, admin):
    mine = create_key(client, tenant.admin_key)
    theirs = create_key(client, other_tenant.admin_key)
    revoke_unknown_key(client, other_tenant.admin_key)
    targets = [item["target_id"] for item in trail(client, tenant.admin_key)]
    assert str(mine) in targets
    assert str(theirs) not in targets
    assert trail(client, tenant.admin_key, target_id=theirs) == []
    assert [i["outcome"] for i in trail(client, tenant.admin_key)] == ["succeeded"] * 2
    theirs_seen = trail(client, other_tenant.admin_key)
    assert [i["outcome"] for i in theirs_seen] == ["refused:not-found", "succeeded"]
    assert str(mine) not in [i["target_id"] for i in theirs_seen]


# --- filters ------------------------------------------------------------------------------

def test_target_id_keeps_the_entries_of_one_resource(client, tenant, admin):
    first = create_key(client, admin.key, name="one")
    create_key(client, admin.key, name="two")
    client.post(f"/api/v1/api-keys/{first}/revoke", headers=bearer(admin.key))
    items = trail(client, tenant.admin_key, target_id=first)
    assert [(i["command"], i["target_id"]) for i in items] == [
        ("RevokeApiKey", str(first)), ("CreateApiKey", str(first))]


def test_a_refused_command_is_found_under_its_target(client, tenant, admin):
    # Revoking the other admin key leaves the tenant's first one as its last.
    assert client.post(f"/api/v1/api-keys/{admin.id}/revoke",
                       headers=bearer(tenant.admin_key)).status_code == 200
    keys = client.get("/api/v1/api-keys", headers=bearer(tenant.admin_key)).json["items"]
    last_admin = next(k["id"] for k in keys if k["revoked_at"] is None)
    refused = client.post(f"/api/v1/api-keys/{last_admin}/revoke",
                          headers=bearer(tenant.admin_key))
    assert refused.status_code == 409, refused.json
    items = trail(client, tenant.admin_key, target_id=last_admin)
    newest = items[0]
    assert (newest["command"], newest["target_id"], newest["outcome"]) == (
        "RevokeApiKey", last_admin, "refused:last-admin-key")


def test_actor_keeps_the_entries_of_one_key(client, app, tenant, admin):
    with app.app_context():
        second_admin = ApiKeyFactory(tenant_id=tenant.id, role=Role.ADMIN)
    by_first = create_key(client, admin.key)
    create_key(client, second_admin.key)
    unknown = revoke_unknown_key(client, admin.key)
    items = trail(client, tenant.admin_key, actor=admin.id)
    assert [(i["command"], i["target_id"]) for i in items] == [
        ("RevokeApiKey", str(unknown)), ("CreateApiKey", str(by_first))]
    assert {i["actor"]["key_id"] for i in items} == {str(admin.id)}
    assert trail(client, tenant.admin_key, actor=uuid.uuid4()) == []


def test_from_and_to_are_a_half_open_window(client, tenant, admin):
    for n in range(3):
        create_key(client, admin.key, name=f"k{n}")
    newest, middle, oldest, _factory = trail(client, tenant.admin_key)
    window = trail(client, tenant.admin_key, **{"from": middle["occurred_at"],
                                                "to": newest["occurred_at"]})
    assert ids(window) == [middle["id"]]  # from is inside, to is outside
    since = trail(client, tenant.admin_key, **{"from": oldest["occurred_at"]})
    assert ids(since) == ids([newest, middle, oldest])
    before = trail(client, tenant.admin_key, to=middle["occurred_at"])
    assert ids(before) == ids([oldest, _factory])


def test_from_takes_any_offset(client, tenant, admin):
    create_key(client, admin.key)
    newest = trail(client, tenant.admin_key)[0]
    stamp = datetime.fromisoformat(newest["occurred_at"])
    east = stamp.astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat()
    assert east.endswith("+05:30")
    assert ids(trail(client, tenant.admin_key, **{"from": east})) == [newest["id"]]


# --- pages --------------------------------------------------------------------------------

def test_pages_cover_the_trail_once_each(client, app, tenant):
    with app.app_context():
        for _ in range(6):
            ApiKeyFactory(tenant_id=tenant.id)
    everything = trail(client, tenant.admin_key)
    assert len(everything) == 6
    assert collect_pages(client, tenant.admin_key, limit=4) == ids(everything)
    assert collect_pages(client, tenant.admin_key, limit=1) == ids(everything)


def test_entries_of_one_instant_are_neither_repeated_nor_skipped(client, tenant, owner_engine):
    instant = datetime(2027, 3, 14, 13, 30, tzinfo=UTC)
    written = [insert_entry(owner_engine, tenant.id, instant) for _ in range(5)]
    later = insert_entry(owner_engine, tenant.id, datetime(2027, 3, 14, 14, 0, tzinfo=UTC))
    pages = collect_pages(client, tenant.admin_key, limit=2)
    assert pages == [str(later), *sorted((str(i) for i in written), reverse=True)]


def test_the_default_page_is_fifty(client, tenant, owner_engine):
    for minute in range(51):
        insert_entry(owner_engine, tenant.id, datetime(2027, 3, 14, 9, minute, tzinfo=UTC))
    first = audit(client, tenant.admin_key).json
    assert len(first["items"]) == 50
    assert first["items"][0]["occurred_at"] == "2027-03-14T09:50:00Z"
    rest = audit(client, tenant.admin_key, cursor=first["next_cursor"]).json
    assert [i["occurred_at"] for i in rest["items"]] == ["2027-03-14T09:00:00Z"]
    assert rest["next_cursor"] is None


def test_a_cursor_keeps_the_filters_it_is_used_with(client, tenant, admin):
    targets = [create_key(client, admin.key, name=f"k{n}") for n in range(3)]
    first = audit(client, tenant.admin_key, actor=admin.id, limit=2).json
    assert [i["target_id"] for i in first["items"]] == [str(t) for t in targets[:0:-1]]
    rest = audit(client, tenant.admin_key, actor=admin.id, limit=2,
                 cursor=first["next_cursor"]).json
    assert [i["target_id"] for i in rest["items"]] == [str(targets[0])]
    assert rest["next_cursor"] is None


def collect_pages(client, key, **args):
    seen, cursor = [], None
    while True:
        response = audit(client, key, **args, **({"cursor": cursor} if cursor else {}))
        assert response.status_code == 200, response.json
        seen += ids(response.json["items"])
        cursor = response.json["next_cursor"]
        if cursor is None:
            return seen


def insert_entry(owner_engine, tenant_id, occurred_at):
    entry_id = uuid.uuid4()
    with owner_engine.begin() as conn:
        conn.execute(text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(tenant_id)})
        conn.execute(text(
            "INSERT INTO audit_log (tenant_id, id, occurred_at, actor_key_id, actor_role, "
            "command, target_id, outcome, request_id) VALUES (:t, :id, :at, NULL, 'system', "
            "'AddProvider', NULL, 'succeeded', NULL)"),
            {"t": tenant_id, "id": entry_id, "at": occurred_at})
    return entry_id


# --- who may ask, and what is refused -----------------------------------------------------

def test_without_a_key_it_is_401(client):
    response = client.get(AUDIT)
    assert response.status_code == 401
    assert response.content_type == "application/problem+json"


@pytest.mark.parametrize("role", [Role.STAFF, Role.READONLY, Role.PROVIDER])
def test_only_admins_read_the_trail(client, app, tenant, role):
    with app.app_context():
        provider = ProviderFactory(tenant_id=tenant.id).id if role == Role.PROVIDER else None
        key = ApiKeyFactory(tenant_id=tenant.id, role=role, provider_id=provider)
    response = audit(client, key.key)
    assert response.status_code == 403
    assert response.content_type == "application/problem+json"


def test_a_platform_key_reads_the_platforms_trail_only(client, platform_key, tenant):
    created = client.post("/api/v1/tenants", headers=bearer(platform_key), json={
        "name": "East Clinic", "slug": "east", "timezone": "UTC"})
    assert created.status_code == 201, created.json
    items = trail(client, platform_key)
    newest = items[0]
    assert (newest["command"], newest["target_id"], newest["outcome"]) == (
        "CreateTenant", created.json["id"], "succeeded")
    assert {i["actor"]["role"] for i in items} <= {"platform_admin", "system"}
    # None of a tenant's own entries.
    key_id = create_key(client, tenant.admin_key)
    assert [i["target_id"] for i in trail(client, tenant.admin_key)] == [str(key_id)]
    assert str(key_id) not in {i["target_id"] for i in trail(client, platform_key)}


def _cursor(raw: str) -> bytes:
    return raw.encode()  # sealed by the test, with the app's key


@pytest.mark.parametrize(("args", "field"), [
    ({"target_id": "not-a-uuid"}, "target_id"),
    ({"actor": "42"}, "actor"),
    ({"from": "2027-03-14"}, "from"),
    ({"from": "2027-03-14T09:30:00"}, "from"),  # no offset
    ({"to": "yesterday"}, "to"),
    ({"to": "2301-01-01T00:00:00Z"}, "to"),
    ({"limit": "0"}, "limit"),
    ({"limit": "201"}, "limit"),
    ({"limit": "ten"}, "limit"),
    ({"cursor": "%%%"}, "cursor"),
    ({"cursor": _cursor('{"a": 1}')}, "cursor"),
    ({"cursor": _cursor('["2027-03-14T09:30:00Z"]')}, "cursor"),
    ({"cursor": _cursor('["yesterday", "8a6e0804-2bd0-4672-b79d-d97027f9071b"]')}, "cursor"),
    ({"cursor": _cursor('["2027-03-14T09:30:00Z", "nope"]')}, "cursor"),
    ({"target": str(uuid.uuid4())}, "target"),  # unknown argument, not a silent no-filter
])
def test_bad_arguments_are_422_naming_the_field(app, client, tenant, args, field):
    if isinstance(args.get("cursor"), bytes):
        args = {"cursor": forged_cursor(app, args["cursor"])}
    response = audit(client, tenant.admin_key, **args)
    assert response.status_code == 422, response.json
    assert response.content_type == "application/problem+json"
    assert set(response.json["errors"]) == {field}


@pytest.mark.parametrize("to", ["2027-03-14T09:30:00Z", "2027-03-14T05:30:00-04:00",
                                "2027-03-14T09:00:00Z"])
def test_to_must_come_after_from(client, tenant, to):
    response = audit(client, tenant.admin_key, **{"from": "2027-03-14T09:30:00Z", "to": to})
    assert response.status_code == 422
    assert response.json["errors"] == {"to": ["Must be after from."]}


def test_empty_arguments_are_no_filter(client, tenant, admin):
    create_key(client, admin.key)
    every = trail(client, tenant.admin_key)
    response = audit(client, tenant.admin_key, target_id="", actor="", cursor="", limit="",
                     **{"from": "", "to": ""})
    assert response.status_code == 200, response.json
    assert ids(response.json["items"]) == ids(every)


def test_a_refused_settings_change_is_found_under_the_tenant(client, tenant):
    stale = client.patch("/api/v1/settings", json={"min_notice_minutes": 60},
                         headers=bearer(tenant.admin_key) | {"If-Match": '"7"'})
    assert stale.status_code == 412, stale.json
    items = trail(client, tenant.admin_key, target_id=tenant.id)
    newest = items[0]
    assert (newest["command"], newest["outcome"]) == (
        "UpdateTenantSettings", "refused:precondition-failed")


# A role refusal at the edge (no command made) is audited like a handler's refusal ---------


def test_a_command_refused_for_the_keys_role_leaves_an_audit_row(app, client, tenant, admin):
    with app.app_context():
        reader = ApiKeyFactory(tenant_id=tenant.id, role=Role.READONLY)
    target = uuid.uuid4()
    refused = client.post(f"/api/v1/api-keys/{target}/revoke",
                          headers=bearer(reader.key) | {"X-Request-ID": "probe-403"})
    assert refused.status_code == 403
    rows = [row for row in trail(client, admin.key) if row["actor"]["key_id"] == str(reader.id)]
    assert rows == [{**rows[0], "command": "POST /api/v1/api-keys/<uuid:key_id>/revoke",
                     "target_id": str(target), "outcome": "refused:forbidden",
                     "request_id": "probe-403",
                     "actor": {"key_id": str(reader.id), "role": "readonly"}}]


def test_a_query_refused_for_the_keys_role_leaves_none(app, client, tenant, admin):
    with app.app_context():
        reader = ApiKeyFactory(tenant_id=tenant.id, role=Role.READONLY)
    assert audit(client, reader.key).status_code == 403  # the trail is for admins
    assert [row for row in trail(client, admin.key)
            if row["actor"]["key_id"] == str(reader.id)] == []

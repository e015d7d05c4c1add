"""Leave requests through HTTP: submit, decide, cancel; transitions, roles and tenants."""

import uuid

import pytest
from sqlalchemy import text

from tests.conftest import bearer
from tests.factories import ApiKeyFactory
from tests.provider_factories import ProviderFactory
from tests.schedule_factories import LeaveRequestFactory
from vitalbridge.messaging.messages import Role

BODY = {"start": "2027-06-01T09:00:00-04:00", "end": "2027-06-03T17:00:00-04:00",
        "reason": "Cardiology congress"}


def events(owner_engine, prefix="leave."):
    with owner_engine.connect() as conn:
        return conn.execute(text(
            "SELECT envelope FROM outbox WHERE type LIKE :p ORDER BY seq"),
            {"p": prefix + "%"}).scalars().all()


def key_for(app, tenant, role, **kwargs):
    with app.app_context():
        return ApiKeyFactory(tenant_id=tenant.id, role=role, **kwargs).key


@pytest.fixture
def provider(app, tenant):
    with app.app_context():
        return ProviderFactory(tenant_id=tenant.id)


@pytest.fixture
def other_provider(app, tenant):
    with app.app_context():
        return ProviderFactory(tenant_id=tenant.id)


@pytest.fixture
def leave(app, tenant, provider):
    with app.app_context():
        return LeaveRequestFactory(tenant_id=tenant.id, provider_id=provider.id)


def submit(client, key, provider_id, **overrides):
    return client.post(f"/api/v1/providers/{provider_id}/leave-requests",
                       json={**BODY, **overrides}, headers=bearer(key))


def act(client, key, leave_id, action, **headers):
    return client.post(f"/api/v1/leave-requests/{leave_id}/{action}",
                       headers={**bearer(key), **headers})


# Submit -------------------------------------------------------------------------------


def test_admin_submits_and_reads_it_back(client, tenant, provider, owner_engine):
    created = submit(client, tenant.admin_key, provider.id)
    assert created.status_code == 201
    assert created.json == {"id": created.json["id"], "version": 1, "status": "pending"}
    assert created.headers["Location"].endswith(f"/api/v1/leave-requests/{created.json['id']}")
    one = client.get(created.headers["Location"], headers=bearer(tenant.admin_key))
    assert one.status_code == 200
    assert one.headers["ETag"] == '"1"'
    assert (one.json["start"], one.json["end"]) == ("2027-06-01T13:00:00Z",
                                                    "2027-06-03T21:00:00Z")
    assert (one.json["status"], one.json["reason"]) == ("pending", "Cardiology congress")
    assert one.json["provider_id"] == str(provider.id)
    assert one.json["updated_at"].endswith("Z")
    [envelope] = events(owner_engine)
    assert envelope["type"] == "leave.requested"
    assert envelope["aggregate_id"] == created.json["id"]
    assert envelope["data"] == {"provider_id": str(provider.id),
                                "start": "2027-06-01T13:00:00Z",
                                "end": "2027-06-03T21:00:00Z", "reason": "Cardiology congress"}


@pytest.mark.parametrize(("overrides", "field"), [
    ({"end": "2027-06-01T09:00:00-04:00"}, "end"),
    ({"end": "2027-05-01T09:00:00-04:00"}, "end"),
    ({"start": "2027-06-01T09:00:00"}, "start"),  # no offset
    ({"start": "next week"}, "start"),
    ({"reason": ""}, "reason"), ({"reason": "   "}, "reason"), ({"reason": "x" * 501}, "reason"),
    ({"reason": None}, "reason"), ({"status": "approved"}, "status"),
])
def test_bad_submissions_are_422(client, tenant, provider, owner_engine, overrides, field):
    response = submit(client, tenant.admin_key, provider.id, **overrides)
    assert response.status_code == 422
    assert field in response.json["errors"]
    assert events(owner_engine) == []


def test_submitting_for_an_unknown_or_inactive_provider(client, tenant, provider):
    assert submit(client, tenant.admin_key, uuid.uuid4()).status_code == 404
    client.post(f"/api/v1/providers/{provider.id}/deactivate", headers=bearer(tenant.admin_key))
    response = submit(client, tenant.admin_key, provider.id)
    assert response.status_code == 409
    assert response.json["type"].endswith("provider-inactive")


def test_a_provider_key_submits_for_itself_only(client, app, tenant, provider, other_provider,
                                                owner_engine):
    key = key_for(app, tenant, Role.PROVIDER, provider_id=provider.id)
    assert submit(client, key, provider.id).status_code == 201
    assert submit(client, key, other_provider.id).status_code == 403
    assert len(events(owner_engine)) == 1


@pytest.mark.parametrize("role", [Role.STAFF, Role.READONLY])
def test_staff_and_readonly_do_not_submit(client, app, tenant, provider, role):
    assert submit(client, key_for(app, tenant, role), provider.id).status_code == 403


# Decisions ----------------------------------------------------------------------------


@pytest.mark.parametrize(("action", "status", "event"), [
    ("approve", "approved", "leave.approved"), ("reject", "rejected", "leave.rejected"),
    ("cancel", "cancelled", "leave.cancelled"),
])
def test_admin_decides_a_pending_request(client, tenant, leave, owner_engine, action, status,
                                         event):
    response = act(client, tenant.admin_key, leave.id, action)
    assert response.status_code == 200
    assert response.json == {"id": str(leave.id), "version": 2, "status": status}
    one = client.get(f"/api/v1/leave-requests/{leave.id}", headers=bearer(tenant.admin_key))
    assert (one.json["status"], one.json["version"]) == (status, 2)
    assert one.json["decided_by_key_id"] is not None
    envelope = events(owner_engine)[-1]
    assert envelope["type"] == event
    assert envelope["data"]["start"] == "2027-06-01T13:00:00Z"
    assert envelope["data"]["end"] == "2027-06-03T21:00:00Z"


@pytest.mark.parametrize(("first", "then"), [
    ("approve", "approve"), ("approve", "reject"), ("reject", "approve"), ("reject", "reject"),
    ("reject", "cancel"), ("cancel", "cancel"), ("cancel", "approve"), ("cancel", "reject"),
])
def test_illegal_transitions_are_409(client, tenant, leave, owner_engine, first, then):
    assert act(client, tenant.admin_key, leave.id, first).status_code == 200
    count = len(events(owner_engine))
    response = act(client, tenant.admin_key, leave.id, then)
    assert response.status_code == 409
    assert response.json["type"].endswith("illegal-transition")
    assert len(events(owner_engine)) == count


def test_an_admin_cancels_approved_leave(client, tenant, leave, owner_engine):
    act(client, tenant.admin_key, leave.id, "approve")
    response = act(client, tenant.admin_key, leave.id, "cancel")
    assert response.json == {"id": str(leave.id), "version": 3, "status": "cancelled"}
    assert events(owner_engine)[-1]["data"]["was"] == "approved"


def test_if_match_stale_is_412(client, tenant, leave):
    assert act(client, tenant.admin_key, leave.id, "approve",
               **{"If-Match": '"2"'}).status_code == 412
    assert act(client, tenant.admin_key, leave.id, "approve",
               **{"If-Match": '"1"'}).status_code == 200


def test_unknown_leave_is_404(client, tenant):
    assert act(client, tenant.admin_key, uuid.uuid4(), "approve").status_code == 404
    assert client.get(f"/api/v1/leave-requests/{uuid.uuid4()}",
                      headers=bearer(tenant.admin_key)).status_code == 404


@pytest.mark.parametrize("role", [Role.STAFF, Role.READONLY, Role.PROVIDER])
def test_only_admins_approve_or_reject(client, app, tenant, provider, leave, role):
    key = key_for(app, tenant, role,
                  **({"provider_id": provider.id} if role == Role.PROVIDER else {}))
    assert act(client, key, leave.id, "approve").status_code == 403
    assert act(client, key, leave.id, "reject").status_code == 403


def test_the_providers_key_cancels_while_pending(client, app, tenant, provider, leave):
    key = key_for(app, tenant, Role.PROVIDER, provider_id=provider.id)
    response = act(client, key, leave.id, "cancel")
    assert response.status_code == 200
    assert response.json["status"] == "cancelled"


def test_the_providers_key_may_not_cancel_approved_leave(client, app, tenant, provider, leave,
                                                        owner_engine):
    key = key_for(app, tenant, Role.PROVIDER, provider_id=provider.id)
    act(client, tenant.admin_key, leave.id, "approve")
    assert act(client, key, leave.id, "cancel").status_code == 403
    assert events(owner_engine)[-1]["type"] == "leave.approved"


def test_another_providers_key_does_not_see_the_request(client, app, tenant, provider,
                                                       other_provider, leave):
    key = key_for(app, tenant, Role.PROVIDER, provider_id=other_provider.id)
    assert act(client, key, leave.id, "cancel").status_code == 404
    assert client.get(f"/api/v1/leave-requests/{leave.id}", headers=bearer(key)).status_code \
        == 404
    assert client.get("/api/v1/leave-requests", headers=bearer(key)).json["items"] == []
    assert client.get(f"/api/v1/leave-requests?provider_id={provider.id}",
                      headers=bearer(key)).json["items"] == []


@pytest.mark.parametrize("role", [Role.STAFF, Role.READONLY])
def test_staff_and_readonly_may_not_cancel(client, app, tenant, leave, role):
    assert act(client, key_for(app, tenant, role), leave.id, "cancel").status_code == 403


# Lists and tenants --------------------------------------------------------------------


def test_list_filters_and_pages(client, app, tenant, provider, other_provider):
    with app.app_context():
        ids = [LeaveRequestFactory(tenant_id=tenant.id, provider_id=provider.id).id
               for _ in range(3)]
        LeaveRequestFactory(tenant_id=tenant.id, provider_id=other_provider.id)
    act(client, tenant.admin_key, ids[1], "approve")
    admin = bearer(tenant.admin_key)
    first = client.get(f"/api/v1/leave-requests?provider_id={provider.id}&limit=2",
                       headers=admin).json
    assert [i["id"] for i in first["items"]] == [str(ids[0]), str(ids[1])]
    rest = client.get(f"/api/v1/leave-requests?provider_id={provider.id}&limit=2"
                      f"&cursor={first['next_cursor']}", headers=admin).json
    assert [i["id"] for i in rest["items"]] == [str(ids[2])]
    assert rest["next_cursor"] is None
    approved = client.get("/api/v1/leave-requests?status=approved", headers=admin).json
    assert [i["id"] for i in approved["items"]] == [str(ids[1])]
    assert len(client.get("/api/v1/leave-requests", headers=admin).json["items"]) == 4
    staff = key_for(app, tenant, Role.STAFF)
    assert len(client.get("/api/v1/leave-requests", headers=bearer(staff)).json["items"]) == 4
    own = key_for(app, tenant, Role.PROVIDER, provider_id=provider.id)
    mine = client.get("/api/v1/leave-requests", headers=bearer(own)).json["items"]
    assert {i["provider_id"] for i in mine} == {str(provider.id)}


@pytest.mark.parametrize("query", ["status=maybe", "provider_id=nope", "limit=0",
                                   "cursor=garbage"])
def test_bad_list_arguments_are_422(client, tenant, query):
    response = client.get(f"/api/v1/leave-requests?{query}", headers=bearer(tenant.admin_key))
    assert response.status_code == 422


def test_another_tenant_sees_no_leave(client, tenant, other_tenant, provider, leave,
                                      owner_engine):
    foreign = other_tenant.admin_key
    assert submit(client, foreign, provider.id).status_code == 404
    for action in ("approve", "reject", "cancel"):
        assert act(client, foreign, leave.id, action).status_code == 404
    assert client.get(f"/api/v1/leave-requests/{leave.id}",
                      headers=bearer(foreign)).status_code == 404
    assert client.get("/api/v1/leave-requests", headers=bearer(foreign)).json["items"] == []
    assert [e["type"] for e in events(owner_engine)] == ["leave.requested"]


def test_idempotency_key_replays_the_submission(client, tenant, provider, owner_engine):
    headers = {**bearer(tenant.admin_key), "Idempotency-Key": "leave-1"}
    url = f"/api/v1/providers/{provider.id}/leave-requests"
    first = client.post(url, json=BODY, headers=headers)
    second = client.post(url, json=BODY, headers=headers)
    assert first.json == second.json
    assert second.headers["Idempotent-Replayed"] == "true"
    assert len(events(owner_engine)) == 1

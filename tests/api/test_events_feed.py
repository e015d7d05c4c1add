"""GET /api/v1/events: the tenant's events, gap-free, never missing a late commit."""

from tests.conftest import bearer
from vitalbridge.messaging.cli import build_relay


def drain(app):
    with app.app_context():
        build_relay().drain()


def feed(client, key, **args):
    query = "&".join(f"{k}={v}" for k, v in args.items())
    return client.get(f"/api/v1/events?{query}", headers=bearer(key))


def test_feed_lists_delivered_events_in_position_order(app, client, tenant):
    for n in range(3):
        client.post("/api/v1/api-keys", json={"name": f"k{n}", "role": "staff"},
                    headers=bearer(tenant.admin_key))
    assert feed(client, tenant.admin_key).json["items"] == []  # not delivered yet
    drain(app)
    body = feed(client, tenant.admin_key).json
    # tenant.created, the first admin key, then the three keys made here
    assert [e["position"] for e in body["items"]] == [1, 2, 3, 4, 5]
    assert body["items"][0]["type"] == "tenant.created"
    assert body["next_after"] == 5
    assert body["meta"]["oldest_position"] == 1
    page = feed(client, tenant.admin_key, after=2, limit=1).json
    assert [e["position"] for e in page["items"]] == [3]
    assert page["next_after"] == 3


def test_feed_filters_by_type_and_is_tenant_scoped(app, client, tenant, other_tenant):
    drain(app)
    mine = feed(client, tenant.admin_key, type="api_key.created").json["items"]
    assert len(mine) == 1
    assert all(e["tenant_id"] == str(tenant.id) for e in mine)
    assert feed(client, tenant.admin_key, type="tenant.created").json["items"][0][
        "aggregate_id"] == str(tenant.id)


def test_feed_is_for_admins_and_validates_arguments(client, app, tenant):
    from tests.factories import ApiKeyFactory
    from vitalbridge.messaging.messages import Role

    with app.app_context():
        staff = ApiKeyFactory(tenant_id=tenant.id, role=Role.STAFF)
    assert feed(client, staff.key).status_code == 403
    bad = feed(client, tenant.admin_key, after=-1, limit=0)
    assert bad.status_code == 422
    assert set(bad.json["errors"]) == {"after", "limit"}

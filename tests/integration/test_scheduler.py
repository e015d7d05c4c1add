"""Periodic jobs: expired idempotency records are purged, fresh ones kept."""

from sqlalchemy import text

from tests.conftest import bearer


def test_purge_removes_only_expired_idempotency_records(app, client, platform_key, owner_engine):
    for key in ("old", "fresh"):
        client.post("/api/v1/tenants", headers={**bearer(platform_key), "Idempotency-Key": key},
                    json={"name": key, "slug": key, "timezone": "UTC"})
    with owner_engine.begin() as conn:
        conn.execute(text("UPDATE idempotency_keys SET created_at = now() - interval '25 hours' "
                          "WHERE key = 'old'"))
    result = app.test_cli_runner().invoke(args=["scheduler", "run-once",
                                                "purge_expired_idempotency_keys"])
    assert result.exit_code == 0, result.output
    assert "purge_expired_idempotency_keys: 1" in result.output
    with owner_engine.connect() as conn:
        left = conn.execute(text("SELECT key FROM idempotency_keys")).scalars().all()
    assert left == ["fresh"]


def test_unknown_job_is_refused(app):
    result = app.test_cli_runner().invoke(args=["scheduler", "run-once", "nope"])
    assert result.exit_code == 2
    assert "purge_expired_idempotency_keys" in result.output


def test_retention_removes_old_delivered_events_but_never_parked_ones(app, tenant, owner_engine):
    from vitalbridge.messaging.cli import build_relay

    with app.app_context():
        build_relay().drain()
    with owner_engine.begin() as conn:
        conn.execute(text("UPDATE outbox SET delivered_at = now() - interval '8 days' "
                          "WHERE type = 'tenant.created'"))
        parked = conn.execute(text("SELECT tenant_id, id, aggregate_id, seq FROM outbox "
                                   "WHERE type = 'api_key.created'")).one()
        conn.execute(text("UPDATE outbox SET delivered_at = now() - interval '8 days' "
                          "WHERE id = :id"), {"id": parked.id})
        conn.execute(text(
            "INSERT INTO parked_deliveries (tenant_id, subscriber, event_id, aggregate_id, seq) "
            "VALUES (:t, 'stuck', :e, :a, :s)"),
            {"t": parked.tenant_id, "e": parked.id, "a": parked.aggregate_id, "s": parked.seq})
    result = app.test_cli_runner().invoke(args=["scheduler", "run-once", "purge_old_events"])
    assert "purge_old_events: 1" in result.output, result.output
    with owner_engine.connect() as conn:
        left = conn.execute(text("SELECT type FROM outbox")).scalars().all()
    assert left == ["api_key.created"]

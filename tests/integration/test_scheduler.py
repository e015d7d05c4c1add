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

"""Housekeeping of the messaging tables, run by the scheduler process."""

from __future__ import annotations

from sqlalchemy import Engine, text

_PURGE_IDEMPOTENCY = text("""
DELETE FROM idempotency_keys
 WHERE created_at < now() - make_interval(hours => :ttl_hours)
""")


def purge_idempotency_keys(engine: Engine, ttl_hours: int) -> int:
    """Forget idempotency records older than their time to live; returns how many."""
    with engine.begin() as conn:
        return conn.execute(_PURGE_IDEMPOTENCY, {"ttl_hours": ttl_hours}).rowcount

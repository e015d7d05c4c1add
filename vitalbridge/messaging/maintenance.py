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


_PURGE_EVENTS = text("""
DELETE FROM outbox o
 WHERE o.delivered_at < now() - make_interval(days => :days)
   AND NOT EXISTS (SELECT 1 FROM parked_deliveries p
                    WHERE p.tenant_id = o.tenant_id AND p.event_id = o.id)
""")
_PURGE_INBOX = text("""
DELETE FROM inbox WHERE handled_at < now() - make_interval(days => :days)
""")


def purge_delivered_events(engine: Engine, retention_days: int) -> int:
    """Forget events delivered longer ago than the retention (never a parked one).

    Their inbox rows go too: an event that no longer exists cannot be redelivered.
    """
    with engine.begin() as conn:
        removed = conn.execute(_PURGE_EVENTS, {"days": retention_days}).rowcount
        conn.execute(_PURGE_INBOX, {"days": retention_days})
    return removed

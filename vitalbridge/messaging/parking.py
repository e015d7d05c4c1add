"""The relay's SQL: claiming undelivered events, feed positions, parked deliveries."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, text

from vitalbridge.db import array_literal

_CLAIM = text("""
SELECT tenant_id, id, seq, type, aggregate_id, envelope FROM outbox
 WHERE delivered_at IS NULL
 ORDER BY seq
 LIMIT :limit
 FOR UPDATE SKIP LOCKED
""")

# Each tenant's counter row is bumped once per batch by the number of its events, and
# stays locked until this transaction commits; only the active relay writes it, so
# positions become visible in order and without gaps. The events are found by their
# whole primary key (tenant, id): by id alone, each batch would scan the outbox.
_MARK_DELIVERED = text("""
WITH batch AS (
  SELECT o.tenant_id, o.id,
         row_number() OVER (PARTITION BY o.tenant_id ORDER BY o.seq) AS rank,
         count(*) OVER (PARTITION BY o.tenant_id) AS size
    FROM unnest(CAST(:tenants AS uuid[]), CAST(:ids AS uuid[])) AS c (tenant_id, id)
    JOIN outbox o ON o.tenant_id = c.tenant_id AND o.id = c.id),
bumped AS (
  INSERT INTO event_positions AS p (tenant_id, last_position)
  SELECT DISTINCT tenant_id, size FROM batch
  ON CONFLICT (tenant_id) DO UPDATE SET last_position = p.last_position + EXCLUDED.last_position
  RETURNING tenant_id, last_position)
UPDATE outbox o
   SET delivered_at = now(), attempts = o.attempts + 1,
       position = bumped.last_position - batch.size + batch.rank
  FROM batch JOIN bumped USING (tenant_id)
 WHERE o.tenant_id = batch.tenant_id AND o.id = batch.id
""")

_BLOCKED_LANES = text("""
SELECT DISTINCT tenant_id, aggregate_id FROM parked_deliveries WHERE subscriber = :subscriber
""")

_PARK = text("""
INSERT INTO parked_deliveries
  (tenant_id, subscriber, event_id, aggregate_id, seq, attempts, last_error, next_attempt_at)
VALUES (:tenant, :subscriber, :event, :aggregate, :seq, :attempts, :error,
        now() + make_interval(secs => :delay))
ON CONFLICT DO NOTHING
""")

# The head of each lane (subscriber, tenant, aggregate) only: later events of the same
# aggregate wait until it is delivered, or until an operator retries a dead one.
_DUE = text("""
SELECT p.tenant_id, p.subscriber, p.event_id, p.attempts, o.envelope
  FROM parked_deliveries p
  JOIN outbox o ON o.tenant_id = p.tenant_id AND o.id = p.event_id
 WHERE p.dead_at IS NULL AND p.next_attempt_at <= now()
   AND p.subscriber = ANY(:subscribers)
   AND NOT EXISTS (SELECT 1 FROM parked_deliveries q
                    WHERE q.subscriber = p.subscriber AND q.tenant_id = p.tenant_id
                      AND q.aggregate_id = p.aggregate_id AND q.seq < p.seq)
 ORDER BY p.seq
 LIMIT :limit
""")

_RELEASE = text("""
DELETE FROM parked_deliveries
 WHERE tenant_id = :tenant AND subscriber = :subscriber AND event_id = :event
""")

_FAILED = text("""
UPDATE parked_deliveries
   SET attempts = :attempts, last_error = :error,
       next_attempt_at = now() + make_interval(secs => :delay),
       dead_at = CASE WHEN :dead THEN now() END
 WHERE tenant_id = :tenant AND subscriber = :subscriber AND event_id = :event
""")


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, and the attempt after which a delivery is dead."""

    max_attempts: int = 8
    base_seconds: float = 1.0
    cap_seconds: float = 300.0

    def delay(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failure (half to full backoff)."""
        backoff = min(self.base_seconds * 2 ** (attempts - 1), self.cap_seconds)
        return backoff * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not security


@dataclass(frozen=True)
class ParkedEntry:
    """A parked delivery due for another attempt."""

    tenant_id: Any
    subscriber: str
    event_id: Any
    attempts: int
    envelope: dict[str, Any]

    @property
    def keys(self) -> dict[str, Any]:
        """Its primary key as statement parameters."""
        return {"tenant": self.tenant_id, "subscriber": self.subscriber, "event": self.event_id}


def claim_undelivered(conn: Connection, limit: int) -> Sequence[Row[Any]]:
    """Lock up to ``limit`` undelivered events, oldest first."""
    return conn.execute(_CLAIM, {"limit": limit}).all()


def mark_delivered(conn: Connection, rows: Sequence[Row[Any]]) -> None:
    """Mark claimed events delivered, giving each its tenant's next position in seq order."""
    if rows:
        conn.execute(_MARK_DELIVERED, {"tenants": array_literal(row.tenant_id for row in rows),
                                       "ids": array_literal(row.id for row in rows)})


def blocked_lanes(conn: Connection, subscriber: str) -> set[tuple[Any, Any]]:
    """(tenant, aggregate) lanes in which an event is parked for ``subscriber``."""
    return {(r.tenant_id, r.aggregate_id)
            for r in conn.execute(_BLOCKED_LANES, {"subscriber": subscriber})}


def park(conn: Connection, subscriber: str, row: Row[Any], *, error: str | None,
         attempts: int, delay: float) -> None:
    """Park ``row`` for ``subscriber`` (after a failure, or behind an earlier one)."""
    conn.execute(_PARK, {"tenant": row.tenant_id, "subscriber": subscriber, "event": row.id,
                         "aggregate": row.aggregate_id, "seq": row.seq, "attempts": attempts,
                         "error": error, "delay": delay})


def due(conn: Connection, limit: int, subscribers: Sequence[str]) -> list[ParkedEntry]:
    """Parked deliveries of ``subscribers`` at the head of their lane whose retry time has
    come. Another subscriber's (one this relay does not run, e.g. removed from the code)
    wait untouched: retrying them here could only fail them towards a dead letter."""
    rows = conn.execute(_DUE, {"limit": limit, "subscribers": list(subscribers)})
    return [ParkedEntry(r.tenant_id, r.subscriber, r.event_id, r.attempts, r.envelope)
            for r in rows]


def release(conn: Connection, entry: ParkedEntry) -> None:
    """The subscriber handled it at last: unpark it."""
    conn.execute(_RELEASE, entry.keys)


def record_failure(conn: Connection, entry: ParkedEntry, error: str,
                   policy: RetryPolicy) -> None:
    """Count another failure; schedule the next attempt or declare it dead."""
    attempts = entry.attempts + 1
    dead = attempts >= policy.max_attempts
    conn.execute(_FAILED, {**entry.keys, "attempts": attempts, "error": error,
                           "delay": 0.0 if dead else policy.delay(attempts), "dead": dead})


_GAUGES = text("""
SELECT (SELECT count(*) FROM outbox WHERE delivered_at IS NULL) AS backlog,
       (SELECT coalesce(extract(epoch FROM now() - min(occurred_at)), 0)
          FROM outbox WHERE delivered_at IS NULL) AS oldest_seconds,
       (SELECT count(*) FROM parked_deliveries WHERE dead_at IS NULL) AS retrying,
       (SELECT count(*) FROM parked_deliveries WHERE dead_at IS NOT NULL) AS dead
""")


@dataclass(frozen=True)
class Gauges:
    """How the outbox looks right now."""

    backlog: int
    oldest_seconds: float
    retrying: int
    dead: int


def gauges(conn: Connection) -> Gauges:
    """Read the backlog, the oldest undelivered age and the parked counts."""
    row = conn.execute(_GAUGES).one()
    return Gauges(row.backlog, float(row.oldest_seconds), row.retrying, row.dead)

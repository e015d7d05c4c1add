"""Questions about the delivery of the asking tenant's events (reconciliation's), and
the repair that is the messaging core's to make: a stuck delivery gets a fresh set of
attempts (a command, so that the audit trail shows who retried it).

Row-level security keeps both tables to the asker's tenant.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

from sqlalchemy import text

from vitalbridge.messaging.bus import ReadContext
from vitalbridge.messaging.messages import Ack, Command, Query
from vitalbridge.messaging.uow import UnitOfWork

LIMIT = 1000  # per question: a backlog this size is reported, not listed whole


@dataclass(frozen=True, kw_only=True)
class StuckDeliveries(Query):
    """Deliveries dead-lettered, or parked for retries since longer than ``older_than``."""

    reads_primary: ClassVar[bool] = True
    older_than: timedelta


@dataclass(frozen=True, kw_only=True)
class UndeliveredEvents(Query):
    """Events committed longer than ``older_than`` ago that the relay has not delivered."""

    reads_primary: ClassVar[bool] = True
    older_than: timedelta


@dataclass(frozen=True, kw_only=True)
class RetryStuckDelivery(Command):
    """Give one stuck delivery a fresh set of attempts, due now."""

    subscriber: str
    event_id: uuid.UUID
    target_field: ClassVar[str | None] = "event_id"


@dataclass(frozen=True)
class StuckDelivery:
    """A subscriber's delivery of one event that is not getting through."""

    subscriber: str
    event_id: uuid.UUID
    parked_at: datetime
    dead: bool


@dataclass(frozen=True)
class LateEvent:
    """An event the relay has not delivered."""

    event_id: uuid.UUID
    occurred_at: datetime


_STUCK = text("""
SELECT subscriber, event_id, parked_at, dead_at IS NOT NULL AS dead FROM parked_deliveries
 WHERE dead_at IS NOT NULL OR parked_at < now() - CAST(:older AS interval)
 ORDER BY parked_at, subscriber, event_id LIMIT :limit
""")
_UNDELIVERED = text("""
SELECT id, occurred_at FROM outbox
 WHERE delivered_at IS NULL AND occurred_at < now() - CAST(:older AS interval)
 ORDER BY occurred_at, id LIMIT :limit
""")
_RETRY_NOW = text("""
UPDATE parked_deliveries SET dead_at = NULL, attempts = 0, next_attempt_at = now()
 WHERE subscriber = :subscriber AND event_id = :event
""")


def stuck_deliveries(query: StuckDeliveries, ctx: ReadContext) -> list[StuckDelivery]:
    """Up to LIMIT stuck deliveries, oldest first."""
    rows = ctx.session.execute(_STUCK, {"older": query.older_than, "limit": LIMIT})
    return [StuckDelivery(row.subscriber, row.event_id, row.parked_at, row.dead) for row in rows]


def undelivered_events(query: UndeliveredEvents, ctx: ReadContext) -> list[LateEvent]:
    """Up to LIMIT events waiting for the relay, oldest first."""
    rows = ctx.session.execute(_UNDELIVERED, {"older": query.older_than, "limit": LIMIT})
    return [LateEvent(row.id, row.occurred_at) for row in rows]


def retry_stuck_delivery(cmd: RetryStuckDelivery, uow: UnitOfWork) -> Ack:
    """The relay runs the delivery again at its next pass; status "gone" when it had
    got through meanwhile."""
    params: dict[str, Any] = {"subscriber": cmd.subscriber, "event": cmd.event_id}
    found = uow.session.execute(_RETRY_NOW, params).rowcount  # type: ignore[attr-defined]
    return Ack(id=cmd.event_id, version=1, status="retrying" if found else "gone")


COMMAND_HANDLERS: dict[type[Command], Any] = {RetryStuckDelivery: retry_stuck_delivery}


QUERY_HANDLERS: dict[type[Query], Any] = {
    StuckDeliveries: stuck_deliveries,
    UndeliveredEvents: undelivered_events,
}

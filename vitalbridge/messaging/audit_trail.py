"""The audit trail: who ran which command on what, with which outcome, newest first.

A browsing view for people, not a feed for programs. ``occurred_at`` is when the
command's transaction began, so a transaction that commits late lands behind a cursor a
reader has already passed; the events feed (feed.py) is the one that never skips a row.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select, tuple_

from vitalbridge.messaging.bus import ReadContext
from vitalbridge.messaging.messages import Query
from vitalbridge.messaging.model import AuditEntry


@dataclass(frozen=True, kw_only=True)
class ListAuditEntries(Query):
    """A page of the asking tenant's audit rows, newest first, optionally filtered.

    ``before`` is the (occurred_at, id) of the last row already seen; ``start``/``end``
    keep rows with ``start <= occurred_at < end``.
    """

    limit: int = 50
    before: tuple[datetime, uuid.UUID] | None = None
    target_id: uuid.UUID | None = None
    actor_key_id: uuid.UUID | None = None
    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True)
class AuditActor:
    """Who sent the command: an API key and its role (no key for the system itself)."""

    key_id: uuid.UUID | None
    role: str


@dataclass(frozen=True)
class AuditEntryView:
    """One audit row as the HTTP edge shows it."""

    id: uuid.UUID
    occurred_at: datetime
    actor: AuditActor
    command: str
    target_id: uuid.UUID | None
    outcome: str
    request_id: str | None


def list_audit_entries(query: ListAuditEntries, ctx: ReadContext) -> list[AuditEntryView]:
    """One page (one row more than asked, to tell whether more follow); RLS keeps it to
    the tenant."""
    stmt = _filtered(select(AuditEntry), query).order_by(
        AuditEntry.occurred_at.desc(), AuditEntry.id.desc())
    if query.before is not None:
        stamp, ident = query.before
        # The row comparison picks the page; the plain bound on occurred_at is what lets
        # the (tenant_id, occurred_at) index start its backward scan at the cursor.
        stmt = stmt.where(tuple_(AuditEntry.occurred_at, AuditEntry.id) < tuple_(stamp, ident),
                          AuditEntry.occurred_at <= stamp)
    return [_view(row) for row in ctx.session.scalars(stmt.limit(query.limit + 1))]


def _filtered(stmt: Select[AuditEntry], query: ListAuditEntries) -> Select[AuditEntry]:
    # Each filter has an index to follow (migrations/0010 for target and actor): a filter
    # without one, on a rare value, would read the whole table to fill a page.
    if query.target_id is not None:
        stmt = stmt.where(AuditEntry.target_id == query.target_id)
    if query.actor_key_id is not None:
        stmt = stmt.where(AuditEntry.actor_key_id == query.actor_key_id)
    if query.start is not None:
        stmt = stmt.where(AuditEntry.occurred_at >= query.start)
    if query.end is not None:
        stmt = stmt.where(AuditEntry.occurred_at < query.end)
    return stmt


def _view(row: AuditEntry) -> AuditEntryView:
    return AuditEntryView(
        id=row.id, occurred_at=row.occurred_at,
        actor=AuditActor(key_id=row.actor_key_id, role=row.actor_role),
        command=row.command, target_id=row.target_id, outcome=row.outcome,
        request_id=row.request_id)


QUERY_HANDLERS = {ListAuditEntries: list_audit_entries}

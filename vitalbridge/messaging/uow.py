"""The unit of work: one transaction per command, with its events, audit row and reply.

Only the unit of work commits. A handler loads and changes its own domain's rows
through ``uow.session`` and calls ``uow.emit(event)``; ``commit`` then appends the
events to the outbox (whose trigger wakes the relay on commit), the audit row and the
idempotent response, and commits it all at once. Any exception before that rolls every
part back.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import bindparam, func, insert
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session, sessionmaker

from vitalbridge.db import set_tenant, table_of
from vitalbridge.driver_sql import DriverStatement
from vitalbridge.messaging import idempotency
from vitalbridge.messaging.errors import DomainError, InvalidCommand
from vitalbridge.messaging.idempotency import Problem
from vitalbridge.messaging.messages import Ack, Command, Event, Principal
from vitalbridge.messaging.model import AuditEntry, OutboxEvent
from vitalbridge.messaging.replica import commit_position

OUTBOX_CHANNEL = "outbox"  # NOTIFY'd by the outbox table's trigger (migration 0009)

# Through the driver (vitalbridge/driver_sql.py): every command writes these rows.
_OUTBOX_ROW = DriverStatement.of(insert(table_of(OutboxEvent)).values(
    {name: bindparam(name) for name in
     ("tenant_id", "id", "type", "aggregate_type", "aggregate_id", "envelope")}))
# The database's clock as the row is written: a command's audit row is its last write
# but for the idempotent reply, so this instant follows every event it appended (whose
# occurred_at is the transaction's start) and every commit before it. A Consistency-Token
# carries it; the app server's clock could be behind the database's.
_AUDIT_ROW = DriverStatement.of(insert(table_of(AuditEntry)).values(
    {name: bindparam(name) for name in
     ("tenant_id", "id", "actor_key_id", "actor_role", "command", "target_id", "outcome",
      "request_id")}).returning(func.clock_timestamp()))


@dataclass(frozen=True, kw_only=True)
class CommandContext:
    """Everything about a command's circumstances that is not the command itself."""

    principal: Principal
    request_id: str | None = None
    correlation_id: str | None = None
    causation_id: str | None = None
    idempotency: idempotency.Claim | None = None
    # How the caller answers a refusal (its HTTP problem response): what a claimed key
    # keeps when the handler refuses the command. Without it a refusal releases the key.
    describe_refusal: Callable[[DomainError], Problem] | None = None


class UnitOfWork:
    """One transaction, scoped to the principal's tenant, committed by ``commit`` only."""

    def __init__(self, sessions: sessionmaker[Session], context: CommandContext,
                 command: Command, *, record_position: bool = False) -> None:
        self.context = context
        self.command = command
        # Only queries on a replica need the commit's WAL position (a round trip more).
        self._record_position = record_position
        self.session = sessions()
        self.events: list[Event] = []
        # Per event, what caused it: a subscriber handling a batch changes this per
        # delivered event, so each reaction's events name their own cause.
        self.causation_id = context.causation_id
        self._causes: list[str | None] = []
        self._committed = False
        self.written_at: datetime | None = None  # set by commit (the database's clock)
        self.commit_lsn: str | None = None  # set by commit: the WAL position after it
        self._scoped_to: uuid.UUID | None = None  # the tenant set_config last named

    def __enter__(self) -> UnitOfWork:
        self.session.begin()
        self.use_tenant(self.context.principal.scope)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if not self._committed:
            self.session.rollback()
        self.session.close()

    @property
    def acting_tenant(self) -> uuid.UUID:
        """The tenant the principal acts in; a platform principal has none (422)."""
        tenant_id = self.context.principal.tenant_id
        if tenant_id is None:
            raise InvalidCommand("This command acts inside a tenant.")
        return tenant_id

    def use_tenant(self, tenant_id: uuid.UUID) -> None:
        """Scope what follows to ``tenant_id`` (creating a tenant acts inside the new one)."""
        if tenant_id != self._scoped_to:  # a statement less per write in the common case
            set_tenant(self.session, tenant_id)
            self._scoped_to = tenant_id

    def emit(self, event: Event) -> None:
        """Record an event; it reaches the outbox only if the command commits."""
        self.events.append(event)
        self._causes.append(self.causation_id)

    def forget_events_after(self, count: int) -> None:
        """Drop events emitted after the first ``count`` (their savepoint rolled back)."""
        del self.events[count:]
        del self._causes[count:]
        # The rollback also undid any set_config made inside the savepoint.
        self._scoped_to = None

    def commit(self, ack: Ack) -> None:
        """Write outbox, audit and idempotent reply with the handler's changes, atomically."""
        self.session.flush()
        for event, cause in zip(self.events, self._causes, strict=True):
            self._append_to_outbox(event, cause)
        self.use_tenant(self.context.principal.scope)
        self.written_at = record_audit(self.session, self.context,
                                       type(self.command).__name__, ack.id, "succeeded")
        if self.context.idempotency is not None:
            idempotency.complete(self.session, self.context.idempotency,
                                 json.dumps(ack.to_json(with_secrets=False)))
        positions: list[str | None] = []
        if self._record_position:
            # Read on the commit's connection right after COMMIT (inside the transaction
            # it would come before the commit record), before it goes back to the pool.
            connection = self.session.connection()
            sa_event.listen(self.session, "after_commit", lambda _session: positions.append(
                commit_position(connection)), once=True)
        self.session.commit()  # the outbox's trigger has queued the relay's wake-up
        self._committed = True
        self.commit_lsn = positions[0] if positions else None

    def _append_to_outbox(self, event: Event, cause: str | None) -> None:
        self.use_tenant(event.tenant_id)
        envelope = build_envelope(event, self.context, cause)
        _OUTBOX_ROW.run(self.session, {
            "tenant_id": event.tenant_id, "id": uuid.UUID(envelope["id"]), "type": event.type,
            "aggregate_type": event.aggregate_type, "aggregate_id": event.aggregate_id,
            "envelope": Jsonb(envelope),
        })


def build_envelope(event: Event, context: CommandContext,
                   causation_id: str | None = None) -> dict[str, Any]:
    """The event envelope of shared/API.md (Domain events)."""
    principal = context.principal
    return {
        "id": str(uuid.uuid4()),
        "type": event.type,
        "version": event.version,
        "occurred_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "tenant_id": str(event.tenant_id),
        "aggregate_type": event.aggregate_type,
        "aggregate_id": str(event.aggregate_id),
        "actor": {"key_id": str(principal.key_id) if principal.key_id else None,
                  "role": principal.role.value},
        "correlation_id": context.correlation_id or context.request_id,
        "causation_id": causation_id,
        "data": event.data(),
    }


def record_audit(session: Session, context: CommandContext, what: str,
                 target_id: uuid.UUID | None, outcome: str) -> datetime:
    """Append one audit row in the principal's scope, inside ``session``'s transaction;
    returns the database's clock as it was written. ``what``: the command's name, or the
    operation refused before a command was made (``POST /api/v1/...``)."""
    principal = context.principal
    written_at: datetime = _AUDIT_ROW.scalar(session, {
        "tenant_id": principal.scope, "id": uuid.uuid4(), "actor_key_id": principal.key_id,
        "actor_role": principal.role.value, "command": what,
        "target_id": target_id, "outcome": outcome, "request_id": context.request_id,
    })
    return written_at

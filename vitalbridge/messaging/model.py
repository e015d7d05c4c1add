"""Tables of the messaging core: outbox, inbox, audit trail, idempotency records."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Double, Identity, Index, Integer, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import DateTime, Uuid

from vitalbridge.db import Base

NOW = text("now()")


def _tenant_pk() -> Mapped[uuid.UUID]:
    return mapped_column(Uuid, primary_key=True)


class OutboxEvent(Base):
    """One committed domain event, waiting for (or done with) delivery."""

    __tablename__ = "outbox"

    tenant_id: Mapped[uuid.UUID] = _tenant_pk()
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    # Insertion order only: the relay never follows it as a cursor (rows with a lower
    # seq can commit after rows with a higher one), it picks undelivered rows by state.
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True))
    type: Mapped[str] = mapped_column(Text)
    aggregate_type: Mapped[str] = mapped_column(Text)
    aggregate_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    envelope: Mapped[dict[str, Any]] = mapped_column(JSONB)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=NOW)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(Text)
    # The tenant's gap-free feed position, assigned by the one active relay when it
    # delivers the event; feed readers may follow it as a cursor (it is never late).
    position: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (
        Index("ix_outbox_undelivered", "seq", postgresql_where=text("delivered_at IS NULL")),
        Index("uq_outbox_tenant_id_position", "tenant_id", "position", unique=True),
        Index("ix_outbox_delivered_at", "delivered_at"),
        # migrations/0012: a read model's freshness is the age of the oldest undelivered
        # event of its tenant, asked with every answer it gives.
        Index("ix_outbox_undelivered_by_tenant", "tenant_id", "occurred_at",
              postgresql_where=text("delivered_at IS NULL")),
    )


class EventPosition(Base):
    """The last feed position handed out in a tenant."""

    __tablename__ = "event_positions"

    tenant_id: Mapped[uuid.UUID] = _tenant_pk()
    last_position: Mapped[int] = mapped_column(BigInteger)


class ParkedDelivery(Base):
    """An event one subscriber has not handled yet: failing, waiting its turn, or dead.

    Other subscribers and other aggregates keep flowing; later events of the same
    aggregate wait here behind it, so each subscriber still sees an aggregate in order.
    """

    __tablename__ = "parked_deliveries"

    tenant_id: Mapped[uuid.UUID] = _tenant_pk()
    subscriber: Mapped[str] = mapped_column(Text, primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    aggregate_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    seq: Mapped[int] = mapped_column(BigInteger)
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                      server_default=NOW)
    last_error: Mapped[str | None] = mapped_column(Text)
    parked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=NOW)
    dead_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_parked_deliveries_lane", "subscriber", "tenant_id", "aggregate_id", "seq"),
    )


class InboxEntry(Base):
    """A subscriber has handled an event: redelivery finds it here and does nothing."""

    __tablename__ = "inbox"

    tenant_id: Mapped[uuid.UUID] = _tenant_pk()
    subscriber: Mapped[str] = mapped_column(Text, primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    handled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=NOW)


class AuditEntry(Base):
    """Who ran which command on what, with which outcome."""

    __tablename__ = "audit_log"

    tenant_id: Mapped[uuid.UUID] = _tenant_pk()
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=NOW)
    actor_key_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    actor_role: Mapped[str] = mapped_column(Text)
    command: Mapped[str] = mapped_column(Text)
    target_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    outcome: Mapped[str] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_audit_log_tenant_id_occurred_at", "tenant_id", "occurred_at"),
        # migrations/0010: GET /audit?target_id= and ?actor= without scanning the table.
        Index("ix_audit_log_target", "tenant_id", "target_id", "occurred_at", "id",
              postgresql_where=text("target_id IS NOT NULL")),
        Index("ix_audit_log_actor", "tenant_id", "actor_key_id", "occurred_at", "id",
              postgresql_where=text("actor_key_id IS NOT NULL")),
    )


class IdempotencyRecord(Base):
    """The first response to an Idempotency-Key, or a claim while it runs.

    One per API key: two keys of a tenant may send the same Idempotency-Key, and each
    gets its own command, run with its own checks.
    """

    __tablename__ = "idempotency_keys"

    tenant_id: Mapped[uuid.UUID] = _tenant_pk()
    api_key_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    request_hash: Mapped[str] = mapped_column(Text)
    claim_token: Mapped[uuid.UUID] = mapped_column(Uuid)
    response: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=NOW)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ReadModelCheckpoint(Base):
    """How far one read model has got in one tenant, and whether it is being rebuilt.

    ``built_at`` is NULL while the read model has never been filled for the tenant (a
    migration added it to a tenant that has data): its answers say ``behind`` until
    ``flask read-models rebuild`` fills it.
    """

    __tablename__ = "read_model_checkpoints"

    tenant_id: Mapped[uuid.UUID] = _tenant_pk()
    read_model: Mapped[str] = mapped_column(Text, primary_key=True)
    last_event_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    last_event_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    applied_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    built_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rebuilding_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_rebuild_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_rebuild_seconds: Mapped[float | None] = mapped_column(Double)
    last_rebuild_rows: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=NOW)


class ReadModelPendingKey(Base):
    """A key the relay refreshed while a rebuild ran: the rebuild recomputes it last."""

    __tablename__ = "read_model_pending_keys"

    tenant_id: Mapped[uuid.UUID] = _tenant_pk()
    read_model: Mapped[str] = mapped_column(Text, primary_key=True)
    key: Mapped[str] = mapped_column(Text, primary_key=True)


class ScheduledJobRun(Base):
    """The latest run of one scheduled job, kept by whichever scheduler is active.

    A platform table (jobs run for every tenant); the scheduler writes it as the relay
    role and ``flask scheduler status`` reads it, from any host. ``next_run_at`` carries
    the schedule across a failover: a standby that takes over runs a job that is due
    at once, not an interval after it became active.
    """

    __tablename__ = "scheduled_job_runs"

    job: Mapped[str] = mapped_column(Text, primary_key=True)
    interval_seconds: Mapped[int] = mapped_column(Integer)
    last_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_duration_seconds: Mapped[float | None] = mapped_column(Double)
    last_outcome: Mapped[str | None] = mapped_column(Text)
    failures_in_a_row: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    last_success_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    next_run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    run_by: Mapped[str | None] = mapped_column(Text)

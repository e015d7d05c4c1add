"""Tables of the appointment domain (private to it)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Computed, Index, Integer, Text, text
from sqlalchemy.dialects.postgresql import TSTZRANGE
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import DateTime, Uuid

from vitalbridge.db import Base

NOW = text("now()")
ACTIVE = "status IN ('booked', 'checked_in', 'completed')"


class Appointment(Base):
    """A booked visit ``[starts_at, ends_at)`` of a patient with a provider.

    ``period`` is generated from the two ends; the migration's exclusion constraints
    (provider, patient) over it keep active appointments from ever overlapping.
    """

    __tablename__ = "appointments"

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    provider_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    patient_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    period: Mapped[Any] = mapped_column(
        TSTZRANGE, Computed("tstzrange(starts_at, ends_at, '[)')", persisted=True))
    status: Mapped[str] = mapped_column(Text, server_default=text("'booked'"))
    reason: Mapped[str | None] = mapped_column(Text)
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    created_by_key_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    updated_by_key_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=NOW)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=NOW)

    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="period"),
        CheckConstraint("ends_at - starts_at <= interval '8 hours'", name="length"),
        CheckConstraint("status IN ('booked', 'checked_in', 'completed', 'cancelled', "
                        "'no_show')", name="status"),
        Index("ix_appointments_provider_start", "tenant_id", "provider_id", "starts_at", "id"),
        Index("ix_appointments_patient_start", "tenant_id", "patient_id", "starts_at", "id"),
        Index("ix_appointments_start", "tenant_id", "starts_at", "id"),
    )


class ProviderLeave(Base):
    """The appointment domain's own copy of a provider's approved leave.

    Fed by ``leave.approved`` and ``leave.cancelled`` (subscribers.py), under the
    provider's calendar lock, and read by every booking under that same lock: a leave
    approved while a booking is in flight either reaches the booking's check, or its
    reaction runs after the booking committed and cancels it. (The schedule facts a view
    sends with the command are read before the lock, and can be stale.)
    """

    __tablename__ = "appointment_provider_leave"

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    leave_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    provider_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_appointment_provider_leave_provider", "tenant_id", "provider_id",
              "starts_at"),
    )


class AppointmentReminder(Base):
    """A reminder emitted: ``appointment.reminder_due`` went out for this start and lead.

    The key includes the start, so a rescheduled appointment is reminded again; a row
    whose start has passed is pruned (nothing is due for a past start).
    """

    __tablename__ = "appointment_reminders"

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    appointment_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    lead_minutes: Mapped[int] = mapped_column(Integer, primary_key=True)
    emitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=NOW)

    __table_args__ = (
        Index("ix_appointment_reminders_start", "tenant_id", "starts_at"),
    )

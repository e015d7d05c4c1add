"""Tables of the schedule domain (private to it)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, Date, Index, Integer, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import DateTime, Uuid

from vitalbridge.db import Base

NOW = text("now()")


# A version's effective_from for "from the beginning": every past date too. A real date
# keeps it in the primary key (no NULL there) and orders it before every other version.
FROM_THE_BEGINNING = date.min


class WorkingHours(Base):
    """A provider's working-hours head: the version counter every PUT bumps (the ETag).

    The weekly rules themselves are ``WorkingHoursVersion`` rows, one per start date.
    """

    __tablename__ = "working_hours"

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    provider_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=NOW)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=NOW)


class WorkingHoursVersion(Base):
    """Weekly rules ``[{weekday, start, end}]`` in local ``HH:MM`` of one zone, governing
    the provider's local dates from ``effective_from`` until the next version's."""

    __tablename__ = "working_hours_versions"

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    provider_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    effective_from: Mapped[date] = mapped_column(Date, primary_key=True)
    timezone: Mapped[str] = mapped_column(Text)
    rules: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=NOW)


class ScheduleOverride(Base):
    """One local date of one provider with its own intervals, or closed (none)."""

    __tablename__ = "schedule_overrides"

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    provider_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    intervals: Mapped[list[dict[str, str]]] = mapped_column(JSONB)
    closed: Mapped[bool] = mapped_column(Boolean)
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=NOW)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=NOW)

    __table_args__ = (
        CheckConstraint("closed = (jsonb_array_length(intervals) = 0)", name="closed"),
    )


class LeaveRequest(Base):
    """Time off ``[starts_at, ends_at)`` asked for a provider, and its decision."""

    __tablename__ = "leave_requests"

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    provider_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default=text("'pending'"))
    requested_by_key_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    decided_by_key_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=NOW)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=NOW)

    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="period"),
        CheckConstraint("status IN ('pending', 'approved', 'rejected', 'cancelled')",
                        name="status"),
        # The list filters, and the schedule's "approved leave of this provider".
        Index("ix_leave_requests_provider_status", "tenant_id", "provider_id", "status"),
        Index("ix_leave_requests_created", "tenant_id", "created_at", "id"),
    )

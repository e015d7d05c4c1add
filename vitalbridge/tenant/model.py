"""Tables of the tenant domain (private to it)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Integer, Text, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import DateTime, Uuid

from vitalbridge.db import Base
from vitalbridge.tenant.messages import (
    MAX_LATE_CANCELLATION_HOURS,
    MAX_NOTICE_MINUTES,
    MAX_REMINDER_LEAD,
    MAX_REMINDER_LEADS,
    MIN_REMINDER_LEAD,
)

NOW = text("now()")


class Tenant(Base):
    """A clinic. Platform-level: not scoped by tenant, read by the platform admin."""

    __tablename__ = "tenants"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    slug: Mapped[str] = mapped_column(Text, unique=True)
    timezone: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=NOW)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=NOW)


class ApiKey(Base):
    """A tenant's API key: a role, maybe bound to a provider, and a hashed secret."""

    __tablename__ = "api_keys"

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(Text)
    provider_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    secret_hash: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=NOW)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("role IN ('admin', 'staff', 'provider', 'readonly')", name="role"),
        CheckConstraint("(role = 'provider') = (provider_id IS NOT NULL)",
                        name="provider_binding"),
    )


class PlatformKey(Base):
    """A platform_admin key; belongs to no tenant."""

    __tablename__ = "platform_keys"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    secret_hash: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=NOW)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


REMINDER_LEADS_RULE = (
    f"cardinality(reminder_lead_minutes) <= {MAX_REMINDER_LEADS} "
    f"AND {MIN_REMINDER_LEAD} <= ALL (reminder_lead_minutes) "
    f"AND {MAX_REMINDER_LEAD} >= ALL (reminder_lead_minutes)")

LATE_CANCELLATION_RULE = f"late_cancellation_hours BETWEEN 1 AND {MAX_LATE_CANCELLATION_HOURS}"


class TenantSettings(Base):
    """A tenant's booking settings; no row yet means every default (version 0)."""

    __tablename__ = "tenant_settings"

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    min_notice_minutes: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    reminder_lead_minutes: Mapped[list[int]] = mapped_column(
        ARRAY(Integer), server_default=text("'{1440,120}'"))
    late_cancellation_hours: Mapped[int] = mapped_column(Integer, server_default=text("24"))
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=NOW)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=NOW)

    __table_args__ = (
        CheckConstraint(f"min_notice_minutes BETWEEN 0 AND {MAX_NOTICE_MINUTES}",
                        name="min_notice_minutes"),
        CheckConstraint(REMINDER_LEADS_RULE, name="reminder_lead_minutes"),
        CheckConstraint(LATE_CANCELLATION_RULE, name="late_cancellation_hours"),
    )

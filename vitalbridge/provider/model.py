"""Tables of the provider domain (private to it)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, Index, Integer, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import DateTime, Uuid

from vitalbridge.db import Base

NOW = text("now()")


class Provider(Base):
    """A clinician of one tenant, with the time zone their schedule is written in."""

    __tablename__ = "providers"

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    given_name: Mapped[str] = mapped_column(Text)
    family_name: Mapped[str] = mapped_column(Text)
    specialty: Mapped[str] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(Text)
    timezone: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=NOW)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=NOW)
    deactivated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("active = (deactivated_at IS NULL)", name="deactivation"),
        # The list's keyset order, and the specialty filter (case-insensitive) in that order.
        Index("ix_providers_name_order", "tenant_id", "family_name", "given_name", "id"),
        Index("ix_providers_specialty", "tenant_id", text("lower(specialty)"),
              "family_name", "given_name", "id"),
        # Accent- and case-insensitive substring search (?q=) through trigrams.
        Index("ix_providers_name_search",
              text("provider_name_key(given_name, family_name) gin_trgm_ops"),
              postgresql_using="gin"),
    )


def name_key() -> ColumnElement[str]:
    """The folded "given family" name that ``?q=`` searches (and the GIN index holds)."""
    return func.provider_name_key(Provider.given_name, Provider.family_name, type_=Text)


def fold(value: str) -> ColumnElement[str]:
    """Fold a search term the same way: lower case, accents removed."""
    return func.provider_fold(value, type_=Text)

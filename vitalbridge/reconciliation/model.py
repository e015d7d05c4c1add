"""The reconciliation module's table (private to it)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, Text, text
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import DateTime, Uuid

from vitalbridge.db import Base

NOW = text("now()")


class DiscrepancyRecord(Base):
    """A discrepancy found by reconciliation: open until a full check no longer finds it.

    At most one open row per check and subject (a partial unique index), which is what
    makes a persisting discrepancy announced once, not on every run.
    """

    __tablename__ = "reconciliation_discrepancies"

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    check_name: Mapped[str] = mapped_column(Text)
    subject_type: Mapped[str] = mapped_column(Text)
    subject_id: Mapped[str] = mapped_column(Text)
    detail: Mapped[str] = mapped_column(Text)
    found_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=NOW)
    last_found_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=NOW)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("uq_reconciliation_discrepancies_open", "tenant_id", "check_name", "subject_id",
              unique=True, postgresql_where=text("resolved_at IS NULL")),
    )

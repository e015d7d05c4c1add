"""Tables of the appointment domain's read models (written only by their projections).

Each read model has its live table, which queries read, and a staging twin with the
same columns in the same order, which a rebuild fills before it swaps the rows in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Column, Date, Index, Integer, PrimaryKeyConstraint, Table, Text, func
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.types import DateTime, Uuid

from vitalbridge.appointment.messages import AppointmentStatus
from vitalbridge.db import Base

STAGING_SUFFIX = "_rebuild"
# Still ahead of the patient: what a summary's next visit and upcoming count are among.
PENDING_STATUSES = (AppointmentStatus.BOOKED.value, AppointmentStatus.CHECKED_IN.value)


def _instant(name: str, *, nullable: bool = True) -> Column[Any]:
    return Column(name, DateTime(timezone=True), nullable=nullable)


def _patient_summary_columns() -> list[Column[Any]]:
    return [
        Column("tenant_id", Uuid, nullable=False),
        Column("patient_id", Uuid, nullable=False),
        Column("patient", JSONB, nullable=False),  # the demographics, as GET /patients/{id}
        Column("birth_date", Date, nullable=False),
        Column("display_name", Text, nullable=False),
        Column("last_visit", JSONB),
        Column("last_visit_start", DateTime(timezone=True)),
        # Starts of the misses since a year before computed_at; an answer counts those in
        # its own year, so the rows stay right as time passes without a recompute.
        Column("cancelled_starts", ARRAY(DateTime(timezone=True)), nullable=False),
        Column("no_show_starts", ARRAY(DateTime(timezone=True)), nullable=False),
        # The provider whose name the last visit shows: a rename refreshes the row. (The
        # next visits are the day sheet's pending lines, read beside this row.)
        Column("provider_ids", ARRAY(Uuid), nullable=False),
        _instant("computed_at", nullable=False),
    ]


def _day_sheet_columns() -> list[Column[Any]]:
    return [
        Column("tenant_id", Uuid, nullable=False),
        Column("appointment_id", Uuid, nullable=False),
        Column("provider_id", Uuid, nullable=False),
        Column("patient_id", Uuid, nullable=False),
        Column("local_date", Date, nullable=False),  # in the provider's time zone
        _instant("starts_at", nullable=False),
        _instant("ends_at", nullable=False),
        Column("status", Text, nullable=False),
        Column("reason", Text),
        Column("provider_name", Text, nullable=False),
        Column("specialty", Text, nullable=False),
        Column("timezone", Text, nullable=False),
        Column("version", Integer, nullable=False),
        _instant("computed_at", nullable=False),
        # The rest of the appointment as GET /appointments/{id} shows it: a patient
        # summary's next appointment is read from here.
        Column("cancel_reason", Text),
        Column("created_by_key_id", Uuid),
        Column("updated_by_key_id", Uuid),
        _instant("created_at", nullable=False),
        _instant("updated_at", nullable=False),
    ]


def _twin_tables(name: str, columns: Callable[[], list[Column[Any]]],
                 key: str) -> tuple[Table, Table]:
    def table(table_name: str) -> Table:
        return Table(table_name, Base.metadata, *columns(),
                     PrimaryKeyConstraint("tenant_id", key, name=f"pk_{table_name}"))

    return table(name), table(name + STAGING_SUFFIX)


patient_summaries, patient_summaries_staging = _twin_tables(
    "patient_summaries", _patient_summary_columns, "patient_id")
Index("ix_patient_summaries_provider_ids", patient_summaries.c.provider_ids,
      postgresql_using="gin")

day_sheet, day_sheet_staging = _twin_tables("day_sheet", _day_sheet_columns, "appointment_id")
# The three ways a day sheet is asked for: the clinic, one provider, one specialty.
Index("ix_day_sheet_date", day_sheet.c.tenant_id, day_sheet.c.local_date,
      day_sheet.c.starts_at, day_sheet.c.appointment_id)
Index("ix_day_sheet_provider_date", day_sheet.c.tenant_id, day_sheet.c.provider_id,
      day_sheet.c.local_date, day_sheet.c.starts_at, day_sheet.c.appointment_id)
# A patient's pending visits by end: its summary's next visit and upcoming count.
Index("ix_day_sheet_patient_pending", day_sheet.c.tenant_id, day_sheet.c.patient_id,
      day_sheet.c.ends_at, postgresql_where=day_sheet.c.status.in_(PENDING_STATUSES))
Index("ix_day_sheet_specialty_date", day_sheet.c.tenant_id, func.lower(day_sheet.c.specialty),
      day_sheet.c.local_date, day_sheet.c.starts_at, day_sheet.c.appointment_id)

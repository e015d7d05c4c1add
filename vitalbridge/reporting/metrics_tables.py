"""The stored clinic metrics (written only by the metrics job, reporting/metrics.py)."""

from __future__ import annotations

from sqlalchemy import Column, Date, Double, Integer, PrimaryKeyConstraint, Table, Text
from sqlalchemy.types import DateTime, Uuid

from vitalbridge.db import Base

CLINIC = ""  # the specialty of the rows of the whole clinic
COUNTS = ("appointments", "cancellations", "late_cancellations", "no_shows",
          "working_minutes", "booked_minutes", "patients_seen", "new_patients")

clinic_metrics = Table(
    "clinic_metrics", Base.metadata,
    Column("tenant_id", Uuid, nullable=False),
    Column("granularity", Text, nullable=False),  # week or month
    Column("period_start", Date, nullable=False),
    Column("specialty", Text, nullable=False),
    Column("period_end", Date, nullable=False),  # the period's last date
    *(Column(name, Integer, nullable=False) for name in COUNTS),
    Column("median_lead_minutes", Double),
    Column("computed_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("tenant_id", "granularity", "period_start", "specialty",
                         name="pk_clinic_metrics"),
)

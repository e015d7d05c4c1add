"""The stored clinic metrics, as GET /reports/metrics answers them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select

from vitalbridge.messaging.bus import ReadContext
from vitalbridge.messaging.messages import Query
from vitalbridge.reporting.metrics_tables import CLINIC, clinic_metrics


@dataclass(frozen=True, kw_only=True)
class ClinicMetrics(Query):
    """The stored rows of periods starting ``first``..``last``: of one specialty
    (case-insensitive), or of the whole clinic when ``specialty`` is None."""

    granularity: str
    first: date
    last: date
    specialty: str | None = None


@dataclass(frozen=True)
class PeriodMetrics:
    """One period's figures, and the rates made of them."""

    period_start: date
    period_end: date
    specialty: str | None
    appointments: int
    cancellations: int
    late_cancellations: int
    no_shows: int
    working_minutes: int
    booked_minutes: int
    median_lead_minutes: float | None
    patients_seen: int
    new_patients: int
    computed_at: datetime

    @property
    def utilization(self) -> float | None:
        """Booked over working minutes."""
        return _ratio(self.booked_minutes, self.working_minutes)

    @property
    def cancellation_rate(self) -> float | None:
        """Cancelled among the period's appointments."""
        return _ratio(self.cancellations, self.appointments)

    @property
    def late_cancellation_rate(self) -> float | None:
        """Cancelled late among the period's appointments."""
        return _ratio(self.late_cancellations, self.appointments)

    @property
    def no_show_rate(self) -> float | None:
        """No-shows among the appointments that were not cancelled."""
        return _ratio(self.no_shows, self.appointments - self.cancellations)


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


def clinic_metrics_of(query: ClinicMetrics, ctx: ReadContext) -> list[PeriodMetrics]:
    """The rows asked for, in period order (row-level security keeps the tenant's)."""
    table = clinic_metrics
    which = table.c.specialty == CLINIC if query.specialty is None else \
        func.lower(table.c.specialty) == query.specialty.lower()
    rows = ctx.session.execute(select(table).where(
        table.c.granularity == query.granularity, which,
        table.c.period_start.between(query.first, query.last))
        .order_by(table.c.period_start, table.c.specialty)).mappings()
    return [_metrics(row) for row in rows]


def _metrics(row: Any) -> PeriodMetrics:
    values = {name: row[name] for name in PeriodMetrics.__dataclass_fields__}
    values["specialty"] = row["specialty"] or None
    return PeriodMetrics(**values)


QUERY_HANDLERS: dict[type[Query], Any] = {ClinicMetrics: clinic_metrics_of}

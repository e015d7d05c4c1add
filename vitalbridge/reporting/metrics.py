"""Clinic metrics, computed from the daily read models (an hourly job; flask metrics compute).

Per tenant, for every whole week (Monday to Sunday) and month inside the dates the
daily provider figures hold, per specialty and for the whole clinic: the working and
booked minutes from the daily provider figures (each provider's dates in its own time
zone), and the appointment counts, lead times and patients from the day sheet (asked of
the appointment domain). A run replaces the tenant's rows in one transaction, under a
lock that keeps two runs for one tenant apart. Nothing scans the appointments table.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import select, text

from vitalbridge.appointment.messages import PeriodVisits, VisitFigures
from vitalbridge.db import Database, set_tenant
from vitalbridge.messaging.bus import QueryBus
from vitalbridge.messaging.messages import Principal
from vitalbridge.messaging.read_models import Reader, lift_request_timeouts
from vitalbridge.provider.messages import FindProviders
from vitalbridge.reporting import read_model_tables as figures
from vitalbridge.reporting.metrics_tables import CLINIC, COUNTS
from vitalbridge.tenant.messages import GetTenantSettings

GRANULARITIES = ("week", "month")
_LOCK = text("SELECT pg_advisory_xact_lock(hashtext('clinic_metrics'), hashtext(:tenant))")
# Working and booked minutes per period and specialty, and per period (specialty NULL),
# each provider's dates read in its own zone.
_MINUTES = text("""
SELECT CAST(date_trunc(:unit, d.local_date) AS date) AS period_start, p.specialty,
       sum(d.working_minutes) AS working_minutes, sum(d.booked_minutes) AS booked_minutes
  FROM unnest(CAST(:providers AS uuid[]), CAST(:zones AS text[]),
              CAST(:specialties AS text[])) AS p (provider_id, zone, specialty)
  JOIN provider_days d
    ON d.tenant_id = :tenant AND d.provider_id = p.provider_id AND d.zone = p.zone
   AND d.local_date BETWEEN :first AND :last
 GROUP BY GROUPING SETS ((1, p.specialty), (1))
""")
_CLEAR = text("DELETE FROM clinic_metrics WHERE tenant_id = :tenant")
_INSERT = text("INSERT INTO clinic_metrics SELECT * FROM jsonb_populate_recordset("
               "NULL::clinic_metrics, CAST(:rows AS jsonb))")


@dataclass(frozen=True)
class Periods:
    """The whole periods of one granularity between two dates."""

    granularity: str
    first: date  # the first period's start
    last: date  # the last period's last date

    def end_of(self, start: date) -> date:
        """The last date of the period starting on ``start``."""
        return _next_start(self.granularity, start) - timedelta(days=1)


def whole_periods(granularity: str, first: date, last: date) -> Periods | None:
    """The whole weeks or months from ``first`` to ``last`` (None: not one)."""
    start = first if _period_start(granularity, first) == first else \
        _next_start(granularity, _period_start(granularity, first))
    end = _period_start(granularity, last + timedelta(days=1)) - timedelta(days=1)
    return Periods(granularity, start, end) if start <= end else None


def compute_tenant(db: Database, queries: QueryBus, tenant_id: uuid.UUID) -> int | None:
    """Recompute one tenant's metrics; the rows stored, None when the daily figures were
    never built for it (nothing to compute from)."""
    with db.sessions() as session, session.begin():
        set_tenant(session, tenant_id)
        lift_request_timeouts(session)  # a background job, not a request
        session.execute(_LOCK, {"tenant": str(tenant_id)})
        window = session.execute(select(figures.provider_day_window.c.first_date,
                                        figures.provider_day_window.c.last_date)).first()
        if window is None:
            return None
        reader = Reader(session, Principal.system(tenant_id), queries)
        late = timedelta(hours=reader.ask(GetTenantSettings()).late_cancellation_hours)
        rows = [row for granularity in GRANULARITIES for row in _rows(
            reader, granularity, window.first_date, window.last_date, late)]
        session.execute(_CLEAR, {"tenant": tenant_id})
        if rows:
            session.execute(_INSERT, {"rows": orjson.dumps(
                [{**row, "tenant_id": tenant_id} for row in rows]).decode()})
    return len(rows)


def _rows(reader: Reader, granularity: str, first: date, last: date,
          late: timedelta) -> list[dict[str, Any]]:
    periods = whole_periods(granularity, first, last)
    if periods is None:
        return []
    visits = {(v.period_start, v.specialty): v for v in reader.ask(VisitFigures(
        granularity=granularity, first=periods.first, last=periods.last,
        late_cancellation=late))}
    minutes = _minutes(reader, periods)
    computed_at = reader.session.scalar(text("SELECT clock_timestamp()"))
    return [_row(periods, key, minutes.get(key), visits.get(key), computed_at)
            for key in sorted(set(minutes) | set(visits),
                              key=lambda k: (k[0], k[1] or ""))]


def _minutes(reader: Reader, periods: Periods) -> dict[tuple[date, str | None], Any]:
    providers = reader.ask(FindProviders())
    result = reader.session.execute(_MINUTES, {
        "tenant": reader.tenant_id, "unit": periods.granularity,
        "first": periods.first, "last": periods.last,
        "providers": [p.id for p in providers], "zones": [p.timezone for p in providers],
        "specialties": [p.specialty for p in providers]})
    return {(row.period_start, row.specialty): row for row in result}


def _row(periods: Periods, key: tuple[date, str | None], minutes: Any,
         visits: PeriodVisits | None, computed_at: datetime) -> dict[str, Any]:
    start, specialty = key
    counts = {name: getattr(visits, name, 0) if visits else 0 for name in COUNTS}
    counts["working_minutes"] = int(minutes.working_minutes) if minutes else 0
    counts["booked_minutes"] = int(minutes.booked_minutes) if minutes else 0
    return {"granularity": periods.granularity, "period_start": start,
            "specialty": CLINIC if specialty is None else specialty,
            "period_end": periods.end_of(start), **counts,
            "median_lead_minutes": visits.median_lead_minutes if visits else None,
            "computed_at": computed_at}


def _period_start(granularity: str, day: date) -> date:
    if granularity == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def _next_start(granularity: str, start: date) -> date:
    if granularity == "week":
        return start + timedelta(days=7)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


"""Visit figures per week or month and specialty, from the day sheet (the clinic
metrics' appointment side): two statements over the day sheet's lines.

A line's ``updated_at`` is when a cancelled appointment was cancelled (the last change a
cancelled appointment undergoes), and ``created_at`` when it was booked.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import text

from vitalbridge.appointment.messages import PeriodVisits, VisitFigures
from vitalbridge.messaging.bus import ReadContext

SEEN = "('checked_in', 'completed')"

# One row per period and specialty, and per period for the clinic (specialty NULL).
_VISITS = text(f"""
SELECT CAST(date_trunc(:unit, d.local_date) AS date) AS period_start, d.specialty,
       count(*) AS appointments,
       count(*) FILTER (WHERE d.status = 'cancelled') AS cancellations,
       count(*) FILTER (WHERE d.status = 'cancelled'
                          AND d.updated_at > d.starts_at - CAST(:late AS interval))
         AS late_cancellations,
       count(*) FILTER (WHERE d.status = 'no_show') AS no_shows,
       percentile_cont(0.5) WITHIN GROUP (
         ORDER BY extract(epoch FROM d.starts_at - d.created_at) / 60) AS median_lead_minutes,
       count(DISTINCT d.patient_id) FILTER (WHERE d.status IN {SEEN}) AS patients_seen
  FROM day_sheet d
 WHERE d.tenant_id = :tenant AND d.local_date BETWEEN :first AND :last
 GROUP BY GROUPING SETS ((1, d.specialty), (1))
""")
# Each patient's first visit ever, in the clinic and in each specialty, counted in the
# period it falls in.
_NEW_PATIENTS = text(f"""
SELECT CAST(date_trunc(:unit, f.first_date) AS date) AS period_start, f.specialty,
       count(*) AS new_patients
  FROM (SELECT d.patient_id, d.specialty, min(d.local_date) AS first_date,
               GROUPING(d.specialty) = 1 AS clinic
          FROM day_sheet d
         WHERE d.tenant_id = :tenant AND d.status IN {SEEN}
         GROUP BY GROUPING SETS ((d.patient_id, d.specialty), (d.patient_id))) f
 WHERE f.first_date BETWEEN :first AND :last
 GROUP BY 1, f.specialty
""")


def visit_figures(query: VisitFigures, ctx: ReadContext) -> list[PeriodVisits]:
    """Every period and specialty with appointments, in period then specialty order."""
    params = {"tenant": ctx.principal.tenant_id, "unit": query.granularity,
              "first": query.first, "last": query.last, "late": query.late_cancellation}
    new = {(row.period_start, row.specialty): row.new_patients
           for row in ctx.session.execute(_NEW_PATIENTS, params)}
    return sorted(_periods(ctx.session.execute(_VISITS, params), new),
                  key=lambda p: (p.period_start, p.specialty or ""))


def _periods(rows: Iterable[Any], new: dict[Any, int]) -> Iterable[PeriodVisits]:
    for row in rows:
        median = row.median_lead_minutes
        yield PeriodVisits(
            period_start=row.period_start, specialty=row.specialty,
            appointments=row.appointments, cancellations=row.cancellations,
            late_cancellations=row.late_cancellations, no_shows=row.no_shows,
            median_lead_minutes=round(float(median), 1) if median is not None else None,
            patients_seen=row.patients_seen,
            new_patients=new.get((row.period_start, row.specialty), 0))


QUERY_HANDLERS = {VisitFigures: visit_figures}

"""Queries answered from the appointment domain's read models, each with its freshness.

Each is one statement: the rows and the freshness of the read models behind them come
from the same snapshot (messaging.read_models.with_freshness). The time-dependent parts
(next visit, the last 12 months, age) are picked here at the answer's own moment.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from vitalbridge.appointment.dates import a_year_before, age_on
from vitalbridge.appointment.messages import (
    DaySheetLine,
    DaySheetPage,
    DaySheetPatient,
    GetDaySheet,
    GetPatientSummary,
    PatientSummary,
)
from vitalbridge.appointment.read_models import DAY_SHEET, PATIENT_SUMMARIES, appointment_from_json
from vitalbridge.messaging.bus import ReadContext
from vitalbridge.messaging.read_models import freshness_of, freshness_params, with_freshness
from vitalbridge.patient.messages import Address, PatientView

# The row keeps every pending visit; the ones still ahead at the answer's moment (now(),
# the freshness row's instant too) are picked here, so a patient booked a hundred times
# does not send a hundred visits over the wire to show the next one.
_SUMMARY = with_freshness("""
SELECT patient, last_visit, cancelled_starts, no_show_starts,
       (SELECT u FROM jsonb_array_elements(upcoming) WITH ORDINALITY AS e (u, n)
         WHERE CAST(u ->> 'end' AS timestamptz) > now() ORDER BY n LIMIT 1) AS next_visit,
       (SELECT count(*) FROM jsonb_array_elements(upcoming) AS e (u)
         WHERE CAST(u ->> 'end' AS timestamptz) > now()) AS upcoming_count
  FROM patient_summaries WHERE patient_id = :patient_id
""")
_SUMMARY_FRESHNESS = freshness_params([PATIENT_SUMMARIES])


def get_patient_summary(query: GetPatientSummary, ctx: ReadContext) -> PatientSummary:
    """The summary as of the answer's moment: one primary-key lookup."""
    row = ctx.session.execute(_SUMMARY, {**_SUMMARY_FRESHNESS,
                                         "patient_id": query.patient_id}).one()
    freshness = freshness_of(row)
    if row.patient is None:
        return PatientSummary(freshness=freshness)
    now = freshness.now
    since = a_year_before(now)
    return PatientSummary(
        freshness=freshness, patient=patient_from_json(row.patient),
        next_appointment=appointment_from_json(row.next_visit) if row.next_visit else None,
        upcoming_count=row.upcoming_count,
        last_visit=appointment_from_json(row.last_visit) if row.last_visit else None,
        cancellations=_within(row.cancelled_starts, since, now),
        no_shows=_within(row.no_show_starts, since, now), since=since)


def _within(starts: list[datetime], since: datetime, until: datetime) -> int:
    return sum(since <= start < until for start in starts)


# The line's patient comes from the patient summaries; a patient not applied there yet
# still shows (its summary parts NULL). Misses count over the year before now().
_DAY_SHEET_PAGE = """
SELECT d.appointment_id, d.starts_at, d.ends_at, d.status, d.reason, d.provider_id,
       d.provider_name, d.specialty, d.timezone, d.version, d.patient_id,
       s.display_name AS patient_name, s.patient ->> 'mrn' AS mrn, s.birth_date,
       s.last_visit_start,
       (SELECT count(*) FROM unnest(s.cancelled_starts) t
         WHERE t >= now() - interval '1 year' AND t < now()) AS cancellations,
       (SELECT count(*) FROM unnest(s.no_show_starts) t
         WHERE t >= now() - interval '1 year' AND t < now()) AS no_shows
  FROM day_sheet d
  LEFT JOIN patient_summaries s ON s.tenant_id = d.tenant_id AND s.patient_id = d.patient_id
 WHERE d.local_date = :day {filters}
 ORDER BY d.starts_at, d.appointment_id
 LIMIT :limit
"""
_FILTERS = {
    "providers": "d.provider_id = ANY(CAST(:provider_ids AS uuid[]))",
    "specialty": "lower(d.specialty) = lower(:specialty)",
    "status": "d.status = :status",
    "after": "(d.starts_at, d.appointment_id) > (:after_start, :after_id)",
}
_DAY_SHEET_FRESHNESS = freshness_params([DAY_SHEET, PATIENT_SUMMARIES])


def get_day_sheet(query: GetDaySheet, ctx: ReadContext) -> DaySheetPage:
    """A page of the day sheet: one statement, along one of the day sheet's indexes."""
    filters, params = _filters(query)
    statement = with_freshness(_DAY_SHEET_PAGE.format(
        filters="".join(f" AND {_FILTERS[name]}" for name in filters)))
    rows = ctx.session.execute(statement, {**_DAY_SHEET_FRESHNESS, **params,
                                           "day": query.day, "limit": query.limit + 1}).all()
    freshness = freshness_of(rows[0])
    today = freshness.now.date()
    lines = [_line(row, today) for row in rows if row.appointment_id is not None]
    return DaySheetPage(lines=lines, freshness=freshness)


def _filters(query: GetDaySheet) -> tuple[list[str], dict[str, Any]]:
    names: list[str] = []
    params: dict[str, Any] = {}
    if query.provider_ids:
        names.append("providers")
        params["provider_ids"] = list(query.provider_ids)
    if query.specialty:
        names.append("specialty")
        params["specialty"] = query.specialty
    if query.status is not None:
        names.append("status")
        params["status"] = query.status.value
    if query.after is not None:
        names.append("after")
        params["after_start"], params["after_id"] = query.after
    return names, params


def _line(row: Any, today: date) -> DaySheetLine:
    patient = DaySheetPatient(
        id=row.patient_id, name=row.patient_name, mrn=row.mrn, birth_date=row.birth_date,
        age=age_on(row.birth_date, today) if row.birth_date else None,
        last_visit=row.last_visit_start, cancellations=row.cancellations or 0,
        no_shows=row.no_shows or 0)
    return DaySheetLine(
        id=row.appointment_id, start=row.starts_at, end=row.ends_at, status=row.status,
        reason=row.reason, provider_id=row.provider_id, provider_name=row.provider_name,
        specialty=row.specialty, timezone=row.timezone, version=row.version, patient=patient)


def patient_from_json(stored: dict[str, Any]) -> PatientView:
    """The demographics a patient summary stored, as the patient domain answers them."""
    values = dict(stored)
    values["id"] = uuid.UUID(values["id"])
    values["birth_date"] = date.fromisoformat(values["birth_date"])
    values["created_at"] = datetime.fromisoformat(values["created_at"])
    values["updated_at"] = datetime.fromisoformat(values["updated_at"])
    values["address"] = Address(**values["address"]) if values["address"] else None
    return PatientView(**values)


QUERY_HANDLERS = {
    GetPatientSummary: get_patient_summary,
    GetDaySheet: get_day_sheet,
}

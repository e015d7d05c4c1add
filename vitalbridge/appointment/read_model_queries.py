"""Queries answered from the appointment domain's read models, each with its freshness.

Each is one statement: the rows and the freshness of the read models behind them come
from the same snapshot (messaging.read_models.with_freshness). The time-dependent parts
(next visit, the last 12 months, age) are picked here at the answer's own moment.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import date, datetime
from typing import Any

from vitalbridge.appointment.dates import a_year_before, age_on
from vitalbridge.appointment.messages import (
    AppointmentView,
    DaySheetLine,
    DaySheetPage,
    DaySheetPatient,
    GetDaySheet,
    GetPatientSummary,
    PatientSummary,
)
from vitalbridge.appointment.read_model_tables import PENDING_STATUSES
from vitalbridge.appointment.read_models import DAY_SHEET, PATIENT_SUMMARIES, appointment_from_json
from vitalbridge.messaging.bus import ReadContext
from vitalbridge.messaging.read_models import freshness_of, freshness_params, with_freshness
from vitalbridge.patient.messages import Address, PatientView

# A patient's pending day-sheet lines ending after the answer's moment (now(), the
# freshness row's instant too). The statuses are written out, not bound, so that the
# planner sees the partial index's condition (ix_day_sheet_patient_pending) in it.
_PENDING_OF_PATIENT = (
    "WHERE d.tenant_id = s.tenant_id AND d.patient_id = s.patient_id AND d.status IN ("
    + ", ".join(f"'{status}'" for status in PENDING_STATUSES) + ") AND d.ends_at > now()")
# The patient's row, and their next visit and upcoming count from those lines: index
# lookups in one statement, however long the patient's history.
_SUMMARY = with_freshness(f"""
SELECT s.patient, s.display_name, s.last_visit, s.cancelled_starts, s.no_show_starts,
       n.appointment_id AS next_id, n.provider_id AS next_provider_id,
       n.starts_at AS next_start, n.ends_at AS next_end, n.status AS next_status,
       n.reason AS next_reason, n.cancel_reason AS next_cancel_reason,
       n.created_by_key_id AS next_created_by, n.updated_by_key_id AS next_updated_by,
       n.version AS next_version, n.created_at AS next_created_at,
       n.updated_at AS next_updated_at, n.provider_name AS next_provider_name,
       (SELECT count(*) FROM day_sheet d {_PENDING_OF_PATIENT}) AS upcoming_count
  FROM patient_summaries s
  LEFT JOIN LATERAL (SELECT * FROM day_sheet d {_PENDING_OF_PATIENT}
                      ORDER BY d.starts_at, d.appointment_id LIMIT 1) n ON true
 WHERE s.patient_id = :patient_id
""")
_SUMMARY_FRESHNESS = freshness_params([PATIENT_SUMMARIES, DAY_SHEET])


def get_patient_summary(query: GetPatientSummary, ctx: ReadContext) -> PatientSummary:
    """The summary as of the answer's moment: one statement."""
    row = ctx.session.execute(_SUMMARY, {**_SUMMARY_FRESHNESS,
                                         "patient_id": query.patient_id}).one()
    freshness = freshness_of(row)
    if row.patient is None:
        return PatientSummary(freshness=freshness)
    now = freshness.now
    since = a_year_before(now)
    return PatientSummary(
        freshness=freshness, patient=patient_from_json(row.patient),
        next_appointment=_next_visit(row, query.patient_id), upcoming_count=row.upcoming_count,
        last_visit=_last_visit(row),
        cancellations=_within(row.cancelled_starts, since, now),
        no_shows=_within(row.no_show_starts, since, now), since=since)


def _next_visit(row: Any, patient_id: uuid.UUID) -> AppointmentView | None:
    if row.next_id is None:
        return None
    return AppointmentView(
        id=row.next_id, provider_id=row.next_provider_id, patient_id=patient_id,
        start=row.next_start, end=row.next_end, status=row.next_status,
        reason=row.next_reason, cancel_reason=row.next_cancel_reason,
        created_by_key_id=row.next_created_by, updated_by_key_id=row.next_updated_by,
        version=row.next_version, created_at=row.next_created_at,
        updated_at=row.next_updated_at, provider_name=row.next_provider_name,
        patient_name=row.display_name)


def _last_visit(row: Any) -> AppointmentView | None:
    # Stored without the patient's name (an appointment's end recomputes the visit
    # columns alone, reading no patient): the name is the row's own.
    if row.last_visit is None:
        return None
    return dataclasses.replace(appointment_from_json(row.last_visit),
                               patient_name=row.display_name)


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

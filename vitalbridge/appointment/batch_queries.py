"""Batched questions of the appointment domain, for read models that recompute many keys.

Each answers any number of ids in a fixed few statements: a relay batch of 200 events
recomputes its keys with one question per domain, not one per event.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import aggregate_order_by, distinct_on

from vitalbridge.appointment.messages import (
    AppointmentIds,
    AppointmentsInWindows,
    AppointmentSpan,
    AppointmentSpansIn,
    AppointmentStatus,
    AppointmentView,
    BusyPeriod,
    GetAppointments,
    PatientVisitDigests,
    VisitDigest,
)
from vitalbridge.appointment.model import Appointment
from vitalbridge.appointment.queries import LONGEST, STATUSES, VIEW_COLUMNS, view_of
from vitalbridge.db import among
from vitalbridge.messaging.bus import ReadContext


def get_appointments(query: GetAppointments, ctx: ReadContext) -> list[AppointmentView]:
    """The appointments with those ids, in id order: one statement."""
    if not query.ids:
        return []
    rows = ctx.session.execute(select(*VIEW_COLUMNS).where(among(Appointment.id, query.ids))
                               .order_by(Appointment.id))
    return [view_of(row) for row in rows]


def appointment_ids(query: AppointmentIds, ctx: ReadContext) -> list[uuid.UUID]:
    """A page of ids along the primary key."""
    stmt = select(Appointment.id).order_by(Appointment.id).limit(query.limit)
    if query.after is not None:
        stmt = stmt.where(Appointment.id > query.after)
    return list(ctx.session.scalars(stmt))


def patient_visit_digests(query: PatientVisitDigests,
                          ctx: ReadContext) -> dict[uuid.UUID, VisitDigest]:
    """Last completed visit and recent misses of each patient: two statements."""
    ids = tuple(dict.fromkeys(query.patient_ids))
    if not ids:
        return {}
    last = {row.patient_id: view_of(row) for row in ctx.session.execute(
        select(*VIEW_COLUMNS).ext(distinct_on(Appointment.patient_id))
        .where(among(Appointment.patient_id, ids),
               Appointment.status == AppointmentStatus.COMPLETED.value)
        .order_by(Appointment.patient_id, Appointment.starts_at.desc(),
                  Appointment.id.desc()))}
    missed = _missed_starts(ids, query, ctx)
    return {patient_id: VisitDigest(
        last_visit=last.get(patient_id),
        cancelled_starts=missed.get((patient_id, AppointmentStatus.CANCELLED.value), ()),
        no_show_starts=missed.get((patient_id, AppointmentStatus.NO_SHOW.value), ()))
        for patient_id in ids}


def _missed_starts(ids: tuple[uuid.UUID, ...], query: PatientVisitDigests,
                   ctx: ReadContext) -> dict[tuple[uuid.UUID, str], tuple[datetime, ...]]:
    missed = (AppointmentStatus.CANCELLED.value, AppointmentStatus.NO_SHOW.value)
    rows = ctx.session.execute(
        select(Appointment.patient_id, Appointment.status,
               func.array_agg(aggregate_order_by(Appointment.starts_at, Appointment.starts_at)))
        .where(among(Appointment.patient_id, ids), Appointment.status.in_(missed),
               Appointment.starts_at >= query.since)
        .group_by(Appointment.patient_id, Appointment.status))
    return {(patient_id, status): tuple(starts) for patient_id, status, starts in rows}


def appointment_spans_in(query: AppointmentSpansIn,
                         ctx: ReadContext) -> dict[uuid.UUID, list[AppointmentSpan]]:
    """A semi-join of the windows (unnested arrays) with the appointments: each window
    is an index range on (tenant, provider, start), and EXISTS counts an appointment
    once however many windows it overlaps."""
    found: dict[uuid.UUID, list[AppointmentSpan]] = {w.provider_id: [] for w in query.windows}
    if not query.windows:
        return found
    rows = ctx.session.execute(_SPANS_IN, {
        "providers": [w.provider_id for w in query.windows],
        "starts": [w.start for w in query.windows], "ends": [w.end for w in query.windows],
        "longest": LONGEST})
    for provider_id, starts, ends, statuses in rows:
        found[provider_id] = [AppointmentSpan(start, end, STATUSES[status])
                              for start, end, status in zip(starts, ends, statuses,
                                                            strict=True)]
    return found


def appointments_in_windows(query: AppointmentsInWindows,
                            ctx: ReadContext) -> list[BusyPeriod]:
    """The same semi-join as ``appointment_spans_in``, with ids, for some statuses."""
    if not query.windows or not query.statuses:
        return []
    rows = ctx.session.execute(_IN_WINDOWS, {
        "providers": [w.provider_id for w in query.windows],
        "starts": [w.start for w in query.windows], "ends": [w.end for w in query.windows],
        "longest": LONGEST, "statuses": [status.value for status in query.statuses]})
    return [BusyPeriod(appointment_id=row.id, provider_id=row.provider_id,
                       start=row.starts_at, end=row.ends_at, status=row.status) for row in rows]


_WINDOWS = """
       SELECT 1 FROM unnest(CAST(:providers AS uuid[]), CAST(:starts AS timestamptz[]),
                            CAST(:ends AS timestamptz[])) AS w (provider_id, start_at, end_at)
        WHERE a.provider_id = w.provider_id AND a.starts_at < w.end_at
          AND a.starts_at > w.start_at - CAST(:longest AS interval) AND a.ends_at > w.start_at
"""
_IN_WINDOWS = text(f"""
SELECT a.id, a.provider_id, a.starts_at, a.ends_at, a.status
  FROM appointments a
 WHERE a.status = ANY(CAST(:statuses AS text[])) AND EXISTS ({_WINDOWS})
 ORDER BY a.provider_id, a.starts_at, a.id
""")
_SPANS_IN = text(f"""
SELECT a.provider_id, array_agg(a.starts_at ORDER BY a.starts_at, a.id),
       array_agg(a.ends_at ORDER BY a.starts_at, a.id),
       array_agg(a.status ORDER BY a.starts_at, a.id)
  FROM appointments a
 WHERE EXISTS ({_WINDOWS})
 GROUP BY a.provider_id
""")


QUERY_HANDLERS = {
    GetAppointments: get_appointments,
    AppointmentIds: appointment_ids,
    PatientVisitDigests: patient_visit_digests,
    AppointmentSpansIn: appointment_spans_in,
    AppointmentsInWindows: appointments_in_windows,
}

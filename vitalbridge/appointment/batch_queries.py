"""Batched questions of the appointment domain, for read models that recompute many keys.

Each answers any number of ids in a fixed few statements: a relay batch of 200 events
recomputes its keys with one question per domain, not one per event.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import aggregate_order_by, distinct_on
from sqlalchemy.types import NullType

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
    ProviderWindow,
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
               # Typed as nothing: psycopg parses the array, and SQLAlchemy's ARRAY type
               # would copy it element by element (a share of a relay batch's time).
               func.array_agg(aggregate_order_by(Appointment.starts_at, Appointment.starts_at),
                              type_=NullType()))
        .where(among(Appointment.patient_id, ids), Appointment.status.in_(missed),
               Appointment.starts_at >= query.since)
        .group_by(Appointment.patient_id, Appointment.status))
    return {(patient_id, status): tuple(starts) for patient_id, status, starts in rows}


def appointment_spans_in(query: AppointmentSpansIn,
                         ctx: ReadContext) -> dict[uuid.UUID, list[AppointmentSpan]]:
    """The appointments of each window (``_IN_WINDOWS``), as arrays per provider."""
    found: dict[uuid.UUID, list[AppointmentSpan]] = {w.provider_id: [] for w in query.windows}
    if not query.windows:
        return found
    rows = ctx.session.execute(_SPANS_IN, _window_params(query.windows))
    for provider_id, starts, ends, statuses in rows:
        found[provider_id] = [AppointmentSpan(start, end, STATUSES[status])
                              for start, end, status in zip(starts, ends, statuses,
                                                            strict=True)]
    return found


def appointments_in_windows(query: AppointmentsInWindows,
                            ctx: ReadContext) -> list[BusyPeriod]:
    """The same windows as ``appointment_spans_in``, with ids, for some statuses."""
    if not query.windows or not query.statuses:
        return []
    rows = ctx.session.execute(_IN_WINDOWS_OF_STATUS, {
        **_window_params(query.windows), "statuses": [status.value for status in query.statuses]})
    return [BusyPeriod(appointment_id=row.id, provider_id=row.provider_id,
                       start=row.starts_at, end=row.ends_at, status=row.status) for row in rows]


def _window_params(windows: Sequence[ProviderWindow]) -> dict[str, list[Any]]:
    # The earliest start that can still overlap a window, computed here: as an
    # expression (start - interval) the planner left it out of the index range and read
    # each provider's whole history up to the window's end.
    return {"providers": [w.provider_id for w in windows],
            "earliest": [w.start - LONGEST for w in windows],
            "starts": [w.start for w in windows], "ends": [w.end for w in windows]}


# The appointments overlapping any of the windows, each once however many it overlaps.
# Driven from the windows: each is an index range on (tenant, provider, start) of the
# lateral subquery, which OFFSET 0 keeps from being flattened into a join the planner
# would rather answer with a scan of every appointment (at a million rows, 300 ms for
# a relay batch's 500 windows, against 5 ms this way).
_IN_WINDOWS = """
SELECT DISTINCT a.id, a.provider_id, a.starts_at, a.ends_at, a.status
  FROM unnest(CAST(:providers AS uuid[]), CAST(:earliest AS timestamptz[]),
              CAST(:starts AS timestamptz[]), CAST(:ends AS timestamptz[]))
       AS w (provider_id, earliest, start_at, end_at)
 CROSS JOIN LATERAL (
       SELECT b.id, b.provider_id, b.starts_at, b.ends_at, b.status FROM appointments b
        WHERE b.provider_id = w.provider_id AND b.starts_at > w.earliest
          AND b.starts_at < w.end_at AND b.ends_at > w.start_at
       OFFSET 0) a
"""
_IN_WINDOWS_OF_STATUS = text(f"""
SELECT * FROM ({_IN_WINDOWS}) found
 WHERE found.status = ANY(CAST(:statuses AS text[]))
 ORDER BY found.provider_id, found.starts_at, found.id
""")
_SPANS_IN = text(f"""
SELECT found.provider_id, array_agg(found.starts_at ORDER BY found.starts_at, found.id),
       array_agg(found.ends_at ORDER BY found.starts_at, found.id),
       array_agg(found.status ORDER BY found.starts_at, found.id)
  FROM ({_IN_WINDOWS}) found
 GROUP BY found.provider_id
""")


QUERY_HANDLERS = {
    GetAppointments: get_appointments,
    AppointmentIds: appointment_ids,
    PatientVisitDigests: patient_visit_digests,
    AppointmentSpansIn: appointment_spans_in,
    AppointmentsInWindows: appointments_in_windows,
}

"""Query handlers of the appointment domain (read-only; row-level security scopes the tenant)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    exists,
    func,
    select,
    tuple_,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by

from vitalbridge.appointment.messages import (
    ACTIVE_STATUSES,
    AppointmentPeriods,
    AppointmentSpan,
    AppointmentStatus,
    AppointmentView,
    BusyPeriod,
    BusyPeriods,
    BusyTimes,
    GetAppointment,
    ListAppointments,
    ProviderHasPatient,
    Span,
)
from vitalbridge.appointment.model import Appointment
from vitalbridge.messaging.bus import ReadContext


def get_appointment(query: GetAppointment, ctx: ReadContext) -> AppointmentView | None:
    """One appointment by id (limited to one provider's when ``provider_id`` is set)."""
    stmt = select(Appointment).where(Appointment.id == query.appointment_id)
    if query.provider_id is not None:
        stmt = stmt.where(Appointment.provider_id == query.provider_id)
    row = ctx.session.scalar(stmt)
    return view_of(row) if row else None


def list_appointments(query: ListAppointments, ctx: ReadContext) -> list[AppointmentView]:
    """A page in (start, id) order, or newest first (one more row than asked, to tell
    whether more follow)."""
    key = tuple_(Appointment.starts_at, Appointment.id)
    stmt = select(Appointment).order_by(
        *((Appointment.starts_at.desc(), Appointment.id.desc()) if query.newest_first
          else (Appointment.starts_at, Appointment.id)))
    filters = {Appointment.provider_id: query.provider_id,
               Appointment.patient_id: query.patient_id,
               Appointment.status: query.status.value if query.status else None}
    for column, value in filters.items():
        if value is not None:
            stmt = stmt.where(column == value)
    if query.start is not None:
        # The lower bound on starts_at (implied by the 8-hour cap) bounds the index scan.
        stmt = stmt.where(Appointment.ends_at > query.start,
                          Appointment.starts_at > query.start - LONGEST)
    if query.end is not None:
        stmt = stmt.where(Appointment.starts_at < query.end)
    if query.ended_by is not None:
        stmt = stmt.where(Appointment.ends_at <= query.ended_by)
    if query.after:
        after = tuple_(*query.after)
        stmt = stmt.where(key < after if query.newest_first else key > after)
    return [view_of(row) for row in ctx.session.scalars(stmt.limit(query.limit + 1))]


# migrations/0008 caps an appointment at 8 hours: one overlapping [start, end) starts
# after start - 8h, which lets the (provider, start) index bound its scan on both sides.
LONGEST = timedelta(hours=8)


def busy_periods(query: BusyPeriods, ctx: ReadContext) -> list[BusyPeriod]:
    """Active appointments of the providers overlapping the window: one statement."""
    rows = ctx.session.execute(
        select(Appointment.id, Appointment.provider_id, Appointment.starts_at,
               Appointment.ends_at, Appointment.status)
        .where(*_active_overlapping(query.provider_ids, query.start, query.end))
        .order_by(Appointment.starts_at, Appointment.id))
    return [BusyPeriod(appointment_id, provider_id, start, end, status)
            for appointment_id, provider_id, start, end, status in rows]


def busy_times(query: BusyTimes, ctx: ReadContext) -> dict[uuid.UUID, list[Span]]:
    """Per provider, the sorted spans of its active appointments in the window.

    One row per provider with two arrays: a 50-provider week holds thousands of
    appointments, and reading each as its own row (ids and all) costs more than the rest
    of availability together.
    """
    rows = ctx.session.execute(
        select(Appointment.provider_id,
               func.array_agg(aggregate_order_by(Appointment.starts_at, Appointment.starts_at)),
               func.array_agg(aggregate_order_by(Appointment.ends_at, Appointment.starts_at)))
        .where(*_active_overlapping(query.provider_ids, query.start, query.end))
        .group_by(Appointment.provider_id))
    busy: dict[uuid.UUID, list[Span]] = {provider_id: [] for provider_id in query.provider_ids}
    for provider_id, starts, ends in rows:
        busy[provider_id] = list(zip(starts, ends, strict=True))
    return busy


def appointment_periods(query: AppointmentPeriods,
                        ctx: ReadContext) -> dict[uuid.UUID, list[AppointmentSpan]]:
    """Per provider, its appointments of any status overlapping the window, by start.

    One row per provider with three arrays, as busy_times does: a report over a quarter
    reads tens of thousands of appointments.
    """
    order = (Appointment.starts_at, Appointment.id)
    rows = ctx.session.execute(
        select(Appointment.provider_id,
               func.array_agg(aggregate_order_by(Appointment.starts_at, *order)),
               func.array_agg(aggregate_order_by(Appointment.ends_at, *order)),
               func.array_agg(aggregate_order_by(Appointment.status, *order)))
        .where(*_overlapping(query.provider_ids, query.start, query.end))
        .group_by(Appointment.provider_id))
    found: dict[uuid.UUID, list[AppointmentSpan]] = {
        provider_id: [] for provider_id in query.provider_ids}
    for provider_id, starts, ends, statuses in rows:
        found[provider_id] = [AppointmentSpan(start, end, STATUSES[status])
                              for start, end, status in zip(starts, ends, statuses,
                                                            strict=True)]
    return found


# A dict lookup, not AppointmentStatus(text): calling an enum costs ten times more, and
# a report converts a status for every appointment of a quarter.
STATUSES = {status.value: status for status in AppointmentStatus}


def _active_overlapping(provider_ids: tuple[uuid.UUID, ...], start: datetime,
                        end: datetime) -> tuple[ColumnElement[bool], ...]:
    return (*_overlapping(provider_ids, start, end),
            Appointment.status.in_(sorted(status.value for status in ACTIVE_STATUSES)))


def _overlapping(provider_ids: tuple[uuid.UUID, ...], start: datetime,
                 end: datetime) -> tuple[ColumnElement[bool], ...]:
    # Bounded on both sides of starts_at (an appointment lasts at most LONGEST), so the
    # (tenant, provider, start) index scan stays inside the window.
    return (Appointment.provider_id.in_(provider_ids),
            Appointment.starts_at < end,
            Appointment.starts_at > start - LONGEST,
            Appointment.ends_at > start)


def provider_has_patient(query: ProviderHasPatient, ctx: ReadContext) -> bool:
    """One index probe on (tenant, patient, start): the patient's appointments are few."""
    return bool(ctx.session.scalar(select(exists().where(
        Appointment.patient_id == query.patient_id,
        Appointment.provider_id == query.provider_id))))


# What view_of reads: batch queries select these columns, not ORM entities, since
# loading entities into the identity map costs more than the query for many rows.
VIEW_COLUMNS = (Appointment.id, Appointment.provider_id, Appointment.patient_id,
                Appointment.starts_at, Appointment.ends_at, Appointment.status,
                Appointment.reason, Appointment.cancel_reason, Appointment.created_by_key_id,
                Appointment.updated_by_key_id, Appointment.version, Appointment.created_at,
                Appointment.updated_at)


def view_of(row: Any) -> AppointmentView:
    """The view of an appointment row (no display names: the asker fills them)."""
    return AppointmentView(
        id=row.id, provider_id=row.provider_id, patient_id=row.patient_id,
        start=row.starts_at, end=row.ends_at, status=row.status, reason=row.reason,
        cancel_reason=row.cancel_reason, created_by_key_id=row.created_by_key_id,
        updated_by_key_id=row.updated_by_key_id, version=row.version,
        created_at=row.created_at, updated_at=row.updated_at)


QUERY_HANDLERS = {
    GetAppointment: get_appointment,
    ListAppointments: list_appointments,
    BusyPeriods: busy_periods,
    BusyTimes: busy_times,
    AppointmentPeriods: appointment_periods,
    ProviderHasPatient: provider_has_patient,
}

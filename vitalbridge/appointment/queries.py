"""Query handlers of the appointment domain (read-only; row-level security scopes the tenant)."""

from __future__ import annotations

from sqlalchemy import select, tuple_

from vitalbridge.appointment.messages import AppointmentView, GetAppointment, ListAppointments
from vitalbridge.appointment.model import Appointment
from vitalbridge.messaging.bus import ReadContext


def get_appointment(query: GetAppointment, ctx: ReadContext) -> AppointmentView | None:
    """One appointment by id (limited to one provider's when ``provider_id`` is set)."""
    stmt = select(Appointment).where(Appointment.id == query.appointment_id)
    if query.provider_id is not None:
        stmt = stmt.where(Appointment.provider_id == query.provider_id)
    row = ctx.session.scalar(stmt)
    return _view(row) if row else None


def list_appointments(query: ListAppointments, ctx: ReadContext) -> list[AppointmentView]:
    """A page in (start, id) order (one more row than asked, to tell whether more follow)."""
    stmt = select(Appointment).order_by(Appointment.starts_at, Appointment.id)
    filters = {Appointment.provider_id: query.provider_id,
               Appointment.patient_id: query.patient_id,
               Appointment.status: query.status.value if query.status else None}
    for column, value in filters.items():
        if value is not None:
            stmt = stmt.where(column == value)
    if query.start is not None:
        stmt = stmt.where(Appointment.ends_at > query.start)
    if query.end is not None:
        stmt = stmt.where(Appointment.starts_at < query.end)
    if query.after:
        stmt = stmt.where(tuple_(Appointment.starts_at, Appointment.id) > tuple_(*query.after))
    return [_view(row) for row in ctx.session.scalars(stmt.limit(query.limit + 1))]


def _view(row: Appointment) -> AppointmentView:
    return AppointmentView(
        id=row.id, provider_id=row.provider_id, patient_id=row.patient_id,
        start=row.starts_at, end=row.ends_at, status=row.status, reason=row.reason,
        cancel_reason=row.cancel_reason, created_by_key_id=row.created_by_key_id,
        updated_by_key_id=row.updated_by_key_id, version=row.version,
        created_at=row.created_at, updated_at=row.updated_at)


QUERY_HANDLERS = {
    GetAppointment: get_appointment,
    ListAppointments: list_appointments,
}

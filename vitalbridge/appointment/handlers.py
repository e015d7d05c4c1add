"""Command handlers of the appointment domain: booking and the visit lifecycle."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from vitalbridge.appointment.messages import (
    AppointmentCancelled,
    AppointmentCheckedIn,
    AppointmentCompleted,
    AppointmentCreated,
    AppointmentNoShow,
    AppointmentStatus,
    CancelAppointment,
    CheckInAppointment,
    CompleteAppointment,
    CreateAppointment,
    MarkNoShow,
    Span,
)
from vitalbridge.appointment.model import Appointment
from vitalbridge.messaging.errors import DomainError, NotFound, require_version
from vitalbridge.messaging.messages import Ack, Command
from vitalbridge.messaging.uow import UnitOfWork


class ProviderInactive(DomainError):
    """A deactivated provider takes no new appointments."""

    type = "provider-inactive"
    title = "Provider inactive"


class InThePast(DomainError):
    """An appointment cannot start before now."""

    type = "in-the-past"
    title = "Start in the past"


class OutsideWorkingHours(DomainError):
    """The whole appointment must lie inside one working period of the provider."""

    type = "outside-working-hours"
    title = "Outside working hours"


class ProviderOnLeave(DomainError):
    """The appointment overlaps the provider's approved leave."""

    type = "provider-on-leave"
    title = "Provider on leave"


class SlotUnavailable(DomainError):
    """The provider has another active appointment overlapping this one."""

    type = "slot-unavailable"
    title = "Slot unavailable"


class PatientDoubleBooked(DomainError):
    """The patient has another active appointment overlapping this one."""

    type = "patient-double-booked"
    title = "Patient double-booked"


class IllegalTransition(DomainError):
    """The appointment's status does not allow this step."""

    type = "illegal-transition"
    title = "Illegal status transition"


class TooEarly(DomainError):
    """A no-show can be recorded only once the appointment has started."""

    type = "too-early"
    title = "Too early"


def create_appointment(cmd: CreateAppointment, uow: UnitOfWork) -> Ack:
    """Book ``[start, end)`` if every rule holds; overlaps are the database's to refuse."""
    _refuse_unbookable(cmd)
    _lock_calendars(uow, cmd.provider_id, cmd.patient_id)
    appointment_id = uuid.uuid4()
    key_id = uow.context.principal.key_id
    uow.session.add(Appointment(
        tenant_id=uow.acting_tenant, id=appointment_id, provider_id=cmd.provider_id,
        patient_id=cmd.patient_id, starts_at=cmd.start, ends_at=cmd.end, reason=cmd.reason,
        status=AppointmentStatus.BOOKED.value, created_by_key_id=key_id,
        updated_by_key_id=key_id))
    # Flush now: an exclusion violation surfaces here, inside the bus's constraint mapping.
    uow.session.flush()
    uow.emit(AppointmentCreated(tenant_id=uow.acting_tenant, aggregate_id=appointment_id,
                                provider_id=cmd.provider_id, patient_id=cmd.patient_id,
                                start=cmd.start, end=cmd.end, reason=cmd.reason))
    return Ack(id=appointment_id, version=1, status=AppointmentStatus.BOOKED.value)


def _refuse_unbookable(cmd: CreateAppointment) -> None:
    if not cmd.provider_active:
        raise ProviderInactive("The provider is deactivated and takes no appointments.")
    if cmd.start < datetime.now(UTC):
        raise InThePast("The appointment would start in the past.")
    if any(start < cmd.end and cmd.start < end for start, end in cmd.leave):
        raise ProviderOnLeave("The provider is on approved leave during this time.")
    if not any(start <= cmd.start and cmd.end <= end for start, end in _merged(cmd.working)):
        raise OutsideWorkingHours("The appointment does not lie inside the provider's "
                                  "working hours.")


def _lock_calendars(uow: UnitOfWork, *owners: uuid.UUID) -> None:
    # With two exclusion constraints, racing inserts deadlock (A waits on B's row for the
    # patient while B waits on A's for the provider). Locking each calendar first, in one
    # global order, queues conflicting bookings instead; the loser then meets the
    # winner's committed row and gets its 409. Whatever else makes a period active
    # (a future reschedule) must take these locks too.
    for key in sorted({int.from_bytes(owner.bytes[:8], "big", signed=True) for owner in owners}):
        uow.session.execute(select(func.pg_advisory_xact_lock(key)))


def _merged(periods: tuple[Span, ...]) -> list[Span]:
    # Touching periods (e.g. 00:00-24:00 on consecutive days) are one stretch of work.
    merged: list[Span] = []
    for start, end in sorted(periods):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


Step = CancelAppointment | CheckInAppointment | CompleteAppointment | MarkNoShow
_S = AppointmentStatus

# Per step: the statuses it may start from, and where it leads.
_TRANSITIONS: dict[type[Any], tuple[frozenset[AppointmentStatus], AppointmentStatus]] = {
    CancelAppointment: (frozenset({_S.BOOKED, _S.CHECKED_IN}), _S.CANCELLED),
    CheckInAppointment: (frozenset({_S.BOOKED}), _S.CHECKED_IN),
    CompleteAppointment: (frozenset({_S.CHECKED_IN}), _S.COMPLETED),
    MarkNoShow: (frozenset({_S.BOOKED}), _S.NO_SHOW),
}


def change_status(cmd: Step, uow: UnitOfWork) -> Ack:
    """Move an appointment one step along its lifecycle, if its status allows that step."""
    row = uow.session.get(Appointment, (uow.acting_tenant, cmd.appointment_id),
                          with_for_update=True)
    if row is None:
        raise NotFound("No such appointment.")
    sources, target = _TRANSITIONS[type(cmd)]
    # Cancelling twice is a retry, not a conflict: same answer, no second event.
    if target == _S.CANCELLED and row.status == _S.CANCELLED:
        return Ack(id=row.id, version=row.version, status=row.status)
    require_version("appointment", row.version, cmd.expected_version)
    if _S(row.status) not in sources:
        raise IllegalTransition(f"A {row.status} appointment cannot become {target.value}.",
                                current_status=row.status)
    if isinstance(cmd, MarkNoShow) and datetime.now(UTC) < row.starts_at:
        raise TooEarly("A no-show can be recorded only after the appointment's start.")
    was = row.status
    row.status = target.value
    if isinstance(cmd, CancelAppointment):
        row.cancel_reason = cmd.reason
    row.updated_by_key_id = uow.context.principal.key_id
    row.version += 1
    row.updated_at = func.now()
    uow.emit(_event(cmd, row, was))
    return Ack(id=row.id, version=row.version, status=target.value)


def _event(cmd: Step, row: Appointment, was: str) -> Any:
    common: dict[str, Any] = {
        "tenant_id": row.tenant_id, "aggregate_id": row.id, "provider_id": row.provider_id,
        "patient_id": row.patient_id, "start": row.starts_at, "end": row.ends_at}
    if isinstance(cmd, CancelAppointment):
        return AppointmentCancelled(**common, reason=cmd.reason, was=was)
    events: dict[type[Any], Callable[..., Any]] = {
        CheckInAppointment: AppointmentCheckedIn, CompleteAppointment: AppointmentCompleted,
        MarkNoShow: AppointmentNoShow}
    return events[type(cmd)](**common)


COMMAND_HANDLERS = {
    CreateAppointment: create_appointment,
    CancelAppointment: change_status,
    CheckInAppointment: change_status,
    CompleteAppointment: change_status,
    MarkNoShow: change_status,
}


def _overlap(message: str, error: type[DomainError]) -> Callable[[Command], DomainError]:
    return lambda cmd: error(message)


# The exclusion constraints of migrations/0007 have the last word under concurrency.
CONSTRAINT_ERRORS = {
    "ex_appointments_provider_period": _overlap(
        "The provider has another appointment overlapping this time.", SlotUnavailable),
    "ex_appointments_patient_period": _overlap(
        "The patient has another appointment overlapping this time.", PatientDoubleBooked),
}

"""Command handlers of the appointment domain: booking and the visit lifecycle."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, bindparam, exists, func, insert, select

from vitalbridge.appointment.messages import (
    AppointmentCancelled,
    AppointmentCheckedIn,
    AppointmentCompleted,
    AppointmentCreated,
    AppointmentNoShow,
    AppointmentRescheduled,
    AppointmentStatus,
    CancelAppointment,
    CheckInAppointment,
    CompleteAppointment,
    CreateAppointment,
    MarkNoShow,
    RescheduleAppointment,
    Span,
)
from vitalbridge.appointment.model import Appointment, ProviderLeave
from vitalbridge.db import table_of
from vitalbridge.driver_sql import DriverStatement
from vitalbridge.messaging.errors import DomainError, NotFound, require_version
from vitalbridge.messaging.messages import Ack, Command, to_json_value
from vitalbridge.messaging.uow import UnitOfWork


class ProviderInactive(DomainError):
    """A deactivated provider takes no new appointments."""

    type = "provider-inactive"
    title = "Provider inactive"


class InThePast(DomainError):
    """An appointment cannot start before now."""

    type = "in-the-past"
    title = "Start in the past"


class ShortNotice(DomainError):
    """The appointment would start sooner than the clinic's minimum notice allows."""

    type = "short-notice"
    title = "Too short notice"


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


# A plain INSERT through the driver (vitalbridge/driver_sql.py), every booking's write.
_NEW_APPOINTMENT = DriverStatement.of(insert(table_of(Appointment)).values(
    {name: bindparam(name) for name in
     ("tenant_id", "id", "provider_id", "patient_id", "starts_at", "ends_at", "reason",
      "status", "created_by_key_id", "updated_by_key_id")}))


def create_appointment(cmd: CreateAppointment, uow: UnitOfWork) -> Ack:
    """Book ``[start, end)`` if every rule holds; overlaps are the database's to refuse."""
    _refuse_unbookable(cmd)
    _lock_calendars(uow, cmd.provider_id, cmd.patient_id)
    _refuse_during_approved_leave(uow, cmd.provider_id, cmd.start, cmd.end)
    appointment_id = uuid.uuid4()
    key_id = uow.context.principal.key_id
    # A plain INSERT, not an ORM add: nothing reads the new row back, and an exclusion
    # violation surfaces right here (as SQLAlchemy's IntegrityError), inside the bus's
    # constraint mapping.
    _NEW_APPOINTMENT.run(uow.session, {
        "tenant_id": uow.acting_tenant, "id": appointment_id, "provider_id": cmd.provider_id,
        "patient_id": cmd.patient_id, "starts_at": cmd.start, "ends_at": cmd.end,
        "reason": cmd.reason, "status": AppointmentStatus.BOOKED.value,
        "created_by_key_id": key_id, "updated_by_key_id": key_id})
    uow.emit(AppointmentCreated(tenant_id=uow.acting_tenant, aggregate_id=appointment_id,
                                provider_id=cmd.provider_id, patient_id=cmd.patient_id,
                                start=cmd.start, end=cmd.end, reason=cmd.reason))
    return Ack(id=appointment_id, version=1, status=AppointmentStatus.BOOKED.value)


def _refuse_unbookable(cmd: CreateAppointment | RescheduleAppointment) -> None:
    # The rules of a new period, shared by create and reschedule; overlaps with other
    # appointments are left to the exclusion constraints.
    start, end = cmd.start, cmd.end
    if not cmd.provider_active:
        raise ProviderInactive("The provider is deactivated and takes no appointments.")
    now = datetime.now(UTC)
    if start < now:
        raise InThePast("The appointment would start in the past.")
    if start < now + cmd.min_notice:
        minutes = cmd.min_notice // timedelta(minutes=1)
        raise ShortNotice(f"The clinic books at least {minutes} minutes ahead.",
                          earliest_start=to_json_value(now + cmd.min_notice))
    if any(off < end and start < back for off, back in cmd.leave):
        raise ProviderOnLeave("The provider is on approved leave during this time.")
    if not any(opens <= start and end <= closes for opens, closes in _merged(cmd.working)):
        raise OutsideWorkingHours("The appointment does not lie inside the provider's "
                                  "working hours.")


def reschedule_appointment(cmd: RescheduleAppointment, uow: UnitOfWork) -> Ack:
    """Move a booked appointment to ``[start, end)`` under the rules of a new booking.

    Takes the calendar locks create takes, in the same order, before locking the row:
    the other way round, a create holding the locks could wait on this row's period
    while this waits on the locks. The same period again is a retry: current Ack, no event.
    """
    key = (uow.acting_tenant, cmd.appointment_id)
    # provider_id and patient_id never change, so an unlocked read names the calendars.
    seen = uow.session.get(Appointment, key)
    if seen is None:
        raise NotFound("No such appointment.")
    _lock_calendars(uow, seen.provider_id, seen.patient_id)
    row = uow.session.get(Appointment, key, with_for_update=True, populate_existing=True)
    if row is None:  # appointments are never deleted; this only satisfies the type
        raise NotFound("No such appointment.")
    require_version("appointment", row.version, cmd.expected_version)
    if row.status != AppointmentStatus.BOOKED:
        raise IllegalTransition(f"A {row.status} appointment cannot be rescheduled.",
                                current_status=row.status)
    _refuse_unbookable(cmd)
    _refuse_during_approved_leave(uow, row.provider_id, cmd.start, cmd.end)
    if (row.starts_at, row.ends_at) == (cmd.start, cmd.end):
        return Ack(id=row.id, version=row.version, status=row.status)
    previous_start, previous_end = row.starts_at, row.ends_at
    row.starts_at, row.ends_at = cmd.start, cmd.end
    row.version += 1
    row.updated_by_key_id = uow.context.principal.key_id
    row.updated_at = func.now()
    # Flush now: an exclusion violation surfaces here, inside the bus's constraint mapping.
    uow.session.flush()
    uow.emit(AppointmentRescheduled(
        tenant_id=row.tenant_id, aggregate_id=row.id, provider_id=row.provider_id,
        patient_id=row.patient_id, start=cmd.start, end=cmd.end,
        previous_start=previous_start, previous_end=previous_end))
    return Ack(id=row.id, version=row.version, status=AppointmentStatus.BOOKED.value)


def _refuse_during_approved_leave(uow: UnitOfWork, provider_id: uuid.UUID, start: datetime,
                                  end: datetime) -> None:
    # Read under the provider's calendar lock, which the leave reaction takes too
    # (subscribers.py): the schedule facts sent with the command were read before it,
    # and a leave approved since then may already have had its reaction.
    if _ON_LEAVE.scalar(uow.session, {"tenant_id": uow.acting_tenant,
                                      "provider_id": provider_id, "start": start, "end": end}):
        raise ProviderOnLeave("The provider is on approved leave during this time.")


def lock_provider_calendar(uow: UnitOfWork, provider_id: uuid.UUID) -> None:
    """Take the provider's calendar lock (the one bookings take) for this transaction."""
    _lock_calendars(uow, provider_id)


def _lock_calendars(uow: UnitOfWork, *owners: uuid.UUID) -> None:
    # With two exclusion constraints, racing inserts deadlock (A waits on B's row for the
    # patient while B waits on A's for the provider). Locking each calendar first, in one
    # global order, queues conflicting bookings instead; the loser then meets the
    # winner's committed row and gets its 409. Whatever else makes a period active
    # (reschedule_appointment) must take these locks too, before any row lock.
    # One statement takes them all: PostgreSQL evaluates a select list left to right.
    keys = sorted({int.from_bytes(owner.bytes[:8], "big", signed=True) for owner in owners})
    _LOCKS[len(keys) - 1].run(uow.session, {f"key{n}": key for n, key in enumerate(keys)})


# Through the driver (vitalbridge/driver_sql.py), as every booking runs them: one
# advisory lock, or two in one statement; the leave check.
_LOCKS = tuple(DriverStatement.of(select(*(
    func.pg_advisory_xact_lock(bindparam(f"key{n}", type_=BigInteger)) for n in range(count))))
    for count in (1, 2))
_ON_LEAVE = DriverStatement.of(select(exists().where(
    ProviderLeave.tenant_id == bindparam("tenant_id"),
    ProviderLeave.provider_id == bindparam("provider_id"),
    ProviderLeave.starts_at < bindparam("end"), ProviderLeave.ends_at > bindparam("start"))))


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
    RescheduleAppointment: reschedule_appointment,
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

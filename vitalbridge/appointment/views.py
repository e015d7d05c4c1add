"""HTTP endpoints of the appointment domain: parse, ask other domains, send, answer.

An unknown (or another tenant's) provider or patient in a booking body is a 422 naming
``provider_id`` or ``patient_id``: the body refers to it, the URL does not. Provider
keys read their own provider's appointments only (others are 404 and absent from lists).
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime, timedelta
from typing import Any

from flask import url_for
from flask.typing import ResponseReturnValue

from vitalbridge.appointment import schemas
from vitalbridge.appointment.handlers import (
    IllegalTransition,
    InThePast,
    OutsideWorkingHours,
    PatientDoubleBooked,
    ProviderInactive,
    ProviderOnLeave,
    ShortNotice,
    SlotUnavailable,
    TooEarly,
)
from vitalbridge.appointment.messages import (
    AppointmentStatus,
    CancelAppointment,
    CheckInAppointment,
    CompleteAppointment,
    CreateAppointment,
    GetAppointment,
    ListAppointments,
    MarkNoShow,
    RescheduleAppointment,
    schedule_facts,
)
from vitalbridge.appointment.names import display_name, with_names
from vitalbridge.http.auth import TENANT_ROLES, current_principal, requires
from vitalbridge.http.blueprint import Blueprint
from vitalbridge.http.commands import expected_version, send_command
from vitalbridge.http.error_docs import conditional, conflicts, if_match
from vitalbridge.http.pagination import page_response, timestamp_id_cursor
from vitalbridge.http.queries import ask, one_snapshot
from vitalbridge.http.render import single
from vitalbridge.http.schemas import AckSchema
from vitalbridge.messaging.errors import InvalidCommand
from vitalbridge.messaging.messages import Query, Role
from vitalbridge.patient.messages import GetPatient
from vitalbridge.provider.messages import GetProvider, ProviderView
from vitalbridge.schedule.messages import ViewSchedule
from vitalbridge.tenant.messages import GetTenantSettings

blueprint = Blueprint("appointment", __name__, url_prefix="/api/v1",
                      description="Appointments: booking and the visit lifecycle.")

ONE = "/appointments/<uuid:appointment_id>"

# The rules of a new period (handlers._refuse_unbookable and the exclusion constraints),
# as the 409s of create and reschedule document them.
BOOKING_RULES = (ProviderInactive, InThePast, ShortNotice, ProviderOnLeave,
                 OutsideWorkingHours, SlotUnavailable, PatientDoubleBooked)


@blueprint.post("/appointments")
@requires(Role.ADMIN, Role.STAFF)
@conflicts(*BOOKING_RULES)
@blueprint.arguments(schemas.AppointmentBody)
@blueprint.response(201, AckSchema)
def create_appointment(body: dict[str, Any]) -> ResponseReturnValue:
    """Create Appointment: 201 `{id, version, status: "booked"}`; emits appointment.created.

    409 types: provider-inactive, in-the-past, short-notice (sooner than the clinic's
    minimum notice, see /settings), provider-on-leave, outside-working-hours (the whole
    slot inside one working period), slot-unavailable (another active appointment of the
    provider overlaps), patient-double-booked. Unknown provider or patient: 422 naming
    provider_id / patient_id.
    """
    start = body["start"]
    end = _end_of(body, timedelta(minutes=schemas.DEFAULT_MINUTES))
    with one_snapshot():
        provider = _referenced(GetProvider(provider_id=body["provider_id"]), "provider_id")
        _referenced(GetPatient(patient_id=body["patient_id"]), "patient_id")
        facts = _booking_facts(provider, start, end)
    return send_command(CreateAppointment(
        provider_id=provider.id, patient_id=body["patient_id"], start=start, end=end,
        reason=body["reason"], **facts),
        created=True, location=lambda ack: url_for("appointment.get_appointment",
                                                   appointment_id=ack.id))


@blueprint.post(f"{ONE}/reschedule")
@requires(Role.ADMIN, Role.STAFF)
@conflicts(IllegalTransition, *BOOKING_RULES)
@if_match
@blueprint.arguments(schemas.RescheduleBody)
@blueprint.response(200, AckSchema)
def reschedule_appointment(body: dict[str, Any],
                           appointment_id: uuid.UUID) -> ResponseReturnValue:
    """Reschedule: move a booked appointment; 200 `{id, version, status}`; appointment.rescheduled.

    `end` or `duration`, not both; with neither, the appointment keeps its length. The new
    period must pass every check of a new booking. 409 types: illegal-transition (only a
    booked appointment moves), provider-inactive, in-the-past, short-notice,
    provider-on-leave, outside-working-hours, slot-unavailable, patient-double-booked
    (its own old period does not count). The same period again answers the current
    version with no event. If-Match: a stale version is 412. Unknown or another tenant's
    appointment: 404.
    """
    start = body["start"]
    with one_snapshot():
        current = ask(GetAppointment(appointment_id=appointment_id))
        if current is None:
            facts = NOTHING_KNOWN  # the handler answers 404, audited and kept for the key
            end = _end_of(body, timedelta(minutes=schemas.DEFAULT_MINUTES))
        else:
            end = _end_of(body, current.end - current.start)
            provider = ask(GetProvider(provider_id=current.provider_id))
            facts = _booking_facts(provider, start, end)
    return send_command(RescheduleAppointment(
        appointment_id=appointment_id, start=start, end=end,
        expected_version=expected_version(), **facts))


@blueprint.post(f"{ONE}/cancel")
@requires(Role.ADMIN, Role.STAFF)
@conflicts(IllegalTransition)
@if_match
@blueprint.arguments(schemas.CancelBody)
@blueprint.response(200, AckSchema)
def cancel_appointment(body: dict[str, Any], appointment_id: uuid.UUID) -> ResponseReturnValue:
    """Cancel: booked or checked_in -> cancelled; emits appointment.cancelled.

    Cancelling a cancelled appointment answers 200 again with no new event (If-Match is
    not checked then); a completed or no_show one is 409 illegal-transition.
    """
    return send_command(CancelAppointment(appointment_id=appointment_id, reason=body["reason"],
                                          expected_version=expected_version()))


@blueprint.post(f"{ONE}/check-in")
@requires(Role.ADMIN, Role.STAFF)
@conflicts(IllegalTransition)
@if_match
@blueprint.response(200, AckSchema)
def check_in(appointment_id: uuid.UUID) -> ResponseReturnValue:
    """Check In: booked -> checked_in; emits appointment.checked_in."""
    return send_command(CheckInAppointment(appointment_id=appointment_id,
                                           expected_version=expected_version()))


@blueprint.post(f"{ONE}/complete")
@requires(Role.ADMIN, Role.STAFF)
@conflicts(IllegalTransition)
@if_match
@blueprint.response(200, AckSchema)
def complete(appointment_id: uuid.UUID) -> ResponseReturnValue:
    """Complete: checked_in -> completed; emits appointment.completed."""
    return send_command(CompleteAppointment(appointment_id=appointment_id,
                                            expected_version=expected_version()))


@blueprint.post(f"{ONE}/no-show")
@requires(Role.ADMIN, Role.STAFF)
@conflicts(IllegalTransition, TooEarly)
@if_match
@blueprint.response(200, AckSchema)
def no_show(appointment_id: uuid.UUID) -> ResponseReturnValue:
    """Mark No-Show: booked -> no_show once the start has passed (else 409 too-early)."""
    return send_command(MarkNoShow(appointment_id=appointment_id,
                                   expected_version=expected_version()))


@blueprint.get(ONE)
@requires(*TENANT_ROLES)
@blueprint.response(200, schemas.AppointmentSchema)
@conditional
def get_appointment(appointment_id: uuid.UUID) -> ResponseReturnValue:
    """One appointment with the provider's and patient's display names, and its ETag."""
    principal = current_principal()
    own = principal.provider_id if principal.role == Role.PROVIDER else None
    with one_snapshot():
        view = ask(GetAppointment(appointment_id=appointment_id, provider_id=own))
        if view is not None:
            provider = ask(GetProvider(provider_id=view.provider_id))
            patient = ask(GetPatient(patient_id=view.patient_id))
            view = dataclasses.replace(view, provider_name=display_name(provider),
                                       patient_name=display_name(patient))
    return single(view, "appointment")


@blueprint.get("/appointments")
@requires(*TENANT_ROLES)
@blueprint.arguments(schemas.AppointmentListArgs, location="query")
@blueprint.response(200, schemas.AppointmentPageSchema)
def list_appointments(args: dict[str, Any]) -> ResponseReturnValue:
    """View Appointments in (start, id) order; `from`/`to` keep those overlapping the window.

    Display names come from one batched provider and one batched patient query per page.
    A provider key sees only its own provider's appointments.
    """
    provider_id = args["provider_id"]
    principal = current_principal()
    if principal.role == Role.PROVIDER:
        if provider_id not in (None, principal.provider_id):
            return {"items": [], "next_cursor": None}
        provider_id = principal.provider_id
    status = AppointmentStatus(args["status"]) if args["status"] else None
    with one_snapshot():
        rows = with_names(ask(ListAppointments(
            limit=args["limit"], after=timestamp_id_cursor(args["cursor"]),
            provider_id=provider_id, patient_id=args["patient_id"], status=status,
            start=args["start"], end=args["end"])))
    return page_response(rows, args["limit"], lambda view: (view.start, view.id))


def _referenced(query: Query, field: str) -> Any:
    # Asked here, not in the handler: a handler touches its own domain's tables only.
    found = ask(query)
    if found is None:
        raise InvalidCommand(f"The {field} refers to nothing in this tenant.",
                             errors={field: ["No such record."]})
    return found


# What a reschedule of an appointment that does not exist is sent with: facts that would
# refuse any booking, though its handler refuses it for being unknown first.
NOTHING_KNOWN: dict[str, Any] = {"provider_active": False, "working": (), "leave": ()}


def _end_of(body: dict[str, Any], length: timedelta) -> datetime:
    # A body's end, else its start plus its duration, else plus ``length``.
    if "end" in body:
        end: datetime = body["end"]
        return end
    minutes = body.get("duration")
    return body["start"] + (timedelta(minutes=minutes) if minutes else length)


def _booking_facts(provider: ProviderView, start: datetime, end: datetime) -> dict[str, Any]:
    # What Create and Reschedule Appointment need to know beyond the appointment domain.
    schedule = ask(ViewSchedule(provider_id=provider.id, start=start, end=end,
                                default_timezone=provider.timezone))
    working, leave = schedule_facts(schedule.items)
    notice = ask(GetTenantSettings()).min_notice_minutes
    return {"provider_active": provider.active, "working": working, "leave": leave,
            "min_notice": timedelta(minutes=notice)}

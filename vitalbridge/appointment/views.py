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
from flask_smorest import Blueprint

from vitalbridge.appointment import schemas
from vitalbridge.appointment.messages import (
    AppointmentStatus,
    AppointmentView,
    CancelAppointment,
    CheckInAppointment,
    CompleteAppointment,
    CreateAppointment,
    GetAppointment,
    ListAppointments,
    MarkNoShow,
    Span,
    schedule_facts,
)
from vitalbridge.http.auth import TENANT_ROLES, current_principal, requires
from vitalbridge.http.commands import expected_version, send_command
from vitalbridge.http.pagination import page_response, timestamp_id_cursor
from vitalbridge.http.render import single
from vitalbridge.http.schemas import AckSchema
from vitalbridge.messaging.errors import InvalidCommand
from vitalbridge.messaging.messages import Query, Role
from vitalbridge.patient.messages import GetPatient, GetPatients
from vitalbridge.provider.messages import FindProviders, GetProvider, ProviderView
from vitalbridge.schedule.messages import ViewSchedule
from vitalbridge.services import services

blueprint = Blueprint("appointment", __name__, url_prefix="/api/v1",
                      description="Appointments: booking and the visit lifecycle.")

ONE = "/appointments/<uuid:appointment_id>"


@blueprint.post("/appointments")
@requires(Role.ADMIN, Role.STAFF)
@blueprint.arguments(schemas.AppointmentBody)
@blueprint.response(201, AckSchema)
def create_appointment(body: dict[str, Any]) -> ResponseReturnValue:
    """Create Appointment: 201 `{id, version, status: "booked"}`; emits appointment.created.

    409 types: provider-inactive, in-the-past, provider-on-leave, outside-working-hours
    (the whole slot inside one working period), slot-unavailable (another active
    appointment of the provider overlaps), patient-double-booked. Unknown provider or
    patient: 422 naming provider_id / patient_id.
    """
    start = body["start"]
    end = body.get("end") or start + timedelta(
        minutes=body.get("duration") or schemas.DEFAULT_MINUTES)
    provider = _referenced(GetProvider(provider_id=body["provider_id"]), "provider_id")
    _referenced(GetPatient(patient_id=body["patient_id"]), "patient_id")
    working, leave = _schedule(provider, start, end)
    return send_command(CreateAppointment(
        provider_id=provider.id, patient_id=body["patient_id"], start=start, end=end,
        reason=body["reason"], provider_active=provider.active, working=working, leave=leave),
        created=True, location=lambda ack: url_for("appointment.get_appointment",
                                                   appointment_id=ack.id))


@blueprint.post(f"{ONE}/cancel")
@requires(Role.ADMIN, Role.STAFF)
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
@blueprint.response(200, AckSchema)
def check_in(appointment_id: uuid.UUID) -> ResponseReturnValue:
    """Check In: booked -> checked_in; emits appointment.checked_in."""
    return send_command(CheckInAppointment(appointment_id=appointment_id,
                                           expected_version=expected_version()))


@blueprint.post(f"{ONE}/complete")
@requires(Role.ADMIN, Role.STAFF)
@blueprint.response(200, AckSchema)
def complete(appointment_id: uuid.UUID) -> ResponseReturnValue:
    """Complete: checked_in -> completed; emits appointment.completed."""
    return send_command(CompleteAppointment(appointment_id=appointment_id,
                                            expected_version=expected_version()))


@blueprint.post(f"{ONE}/no-show")
@requires(Role.ADMIN, Role.STAFF)
@blueprint.response(200, AckSchema)
def no_show(appointment_id: uuid.UUID) -> ResponseReturnValue:
    """Mark No-Show: booked -> no_show once the start has passed (else 409 too-early)."""
    return send_command(MarkNoShow(appointment_id=appointment_id,
                                   expected_version=expected_version()))


@blueprint.get(ONE)
@requires(*TENANT_ROLES)
@blueprint.response(200, schemas.AppointmentSchema)
def get_appointment(appointment_id: uuid.UUID) -> ResponseReturnValue:
    """One appointment with the provider's and patient's display names, and its ETag."""
    principal = current_principal()
    own = principal.provider_id if principal.role == Role.PROVIDER else None
    view = _ask(GetAppointment(appointment_id=appointment_id, provider_id=own))
    if view is not None:
        provider = _ask(GetProvider(provider_id=view.provider_id))
        patient = _ask(GetPatient(patient_id=view.patient_id))
        view = dataclasses.replace(view, provider_name=_name(provider),
                                   patient_name=_name(patient))
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
    rows = _ask(ListAppointments(
        limit=args["limit"], after=timestamp_id_cursor(args["cursor"]), provider_id=provider_id,
        patient_id=args["patient_id"], status=status, start=args["start"], end=args["end"]))
    return page_response(_named(rows), args["limit"], lambda view: (view.start, view.id))


def _ask(query: Query) -> Any:
    return services().queries.ask(query, current_principal())


def _referenced(query: Query, field: str) -> Any:
    # Asked here, not in the handler: a handler touches its own domain's tables only.
    found = _ask(query)
    if found is None:
        raise InvalidCommand(f"The {field} refers to nothing in this tenant.",
                             errors={field: ["No such record."]})
    return found


def _schedule(provider: ProviderView, start: datetime,
              end: datetime) -> tuple[tuple[Span, ...], tuple[Span, ...]]:
    schedule = _ask(ViewSchedule(provider_id=provider.id, start=start, end=end,
                                 default_timezone=provider.timezone))
    return schedule_facts(schedule.items)


def _named(rows: list[AppointmentView]) -> list[AppointmentView]:
    if not rows:
        return rows
    providers = _ask(FindProviders(ids=tuple({row.provider_id for row in rows})))
    patients = _ask(GetPatients(ids=tuple({row.patient_id for row in rows})))
    provider_names = {p.id: _name(p) for p in providers}
    patient_names = {p.id: _name(p) for p in patients}
    return [dataclasses.replace(row, provider_name=provider_names.get(row.provider_id),
                                patient_name=patient_names.get(row.patient_id))
            for row in rows]


def _name(person: Any) -> str | None:
    return f"{person.given_name} {person.family_name}" if person is not None else None

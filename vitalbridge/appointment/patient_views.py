"""A patient's appointments and visit summary: the appointment domain's answers composed
with the patient domain's demographics, at the HTTP edge through the query bus.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from flask.typing import ResponseReturnValue
from flask_smorest import Blueprint

from vitalbridge.appointment.messages import (
    AppointmentStatus,
    AppointmentView,
    ListAppointments,
    PatientVisitFacts,
    ProviderHasPatient,
)
from vitalbridge.appointment.names import with_names
from vitalbridge.appointment.patient_schemas import (
    PAST,
    PatientAppointmentArgs,
    PatientSummarySchema,
)
from vitalbridge.appointment.schemas import AppointmentPageSchema
from vitalbridge.http.auth import TENANT_ROLES, current_principal, requires
from vitalbridge.http.pagination import page_response, timestamp_id_cursor
from vitalbridge.http.queries import ask, one_snapshot
from vitalbridge.messaging.errors import NotFound
from vitalbridge.messaging.messages import Principal, Role
from vitalbridge.patient.messages import GetPatient, PatientView

blueprint = Blueprint("patient_appointments", __name__, url_prefix="/api/v1",
                      description="A patient's appointments and visit summary.")

PATIENT = "/patients/<uuid:patient_id>"


@blueprint.get(f"{PATIENT}/appointments")
@requires(*TENANT_ROLES)
# A misspelt filter (?stauts=) must not silently widen the list: 422.
@blueprint.arguments(PatientAppointmentArgs, location="query")
@blueprint.response(200, AppointmentPageSchema)
def patient_appointments(args: dict[str, Any], patient_id: uuid.UUID) -> ResponseReturnValue:
    """View a patient's appointments, with provider and patient display names.

    `when=upcoming` (default): appointments ending after now, soonest first (an
    appointment under way is upcoming). `when=past`: those that ended at or before now,
    most recent first. `status` filters; pages with `limit`/`cursor` (keyset over start
    and id). A provider key sees only its own provider's appointments. Unknown or another
    tenant's patient: 404.
    """
    principal = current_principal()
    now = datetime.now(UTC)
    past = args["when"] == PAST
    with one_snapshot():
        _patient(patient_id, principal)
        rows = with_names(ask(ListAppointments(
            limit=args["limit"], after=timestamp_id_cursor(args["cursor"]),
            patient_id=patient_id,
            provider_id=principal.provider_id if principal.role == Role.PROVIDER else None,
            status=AppointmentStatus(args["status"]) if args["status"] else None,
            start=None if past else now, ended_by=now if past else None, newest_first=past)))
    return page_response(rows, args["limit"], lambda view: (view.start, view.id))


@blueprint.get(f"{PATIENT}/summary")
@requires(Role.ADMIN, Role.STAFF, Role.READONLY)
@blueprint.response(200, PatientSummarySchema)
def patient_summary(patient_id: uuid.UUID) -> ResponseReturnValue:
    """A patient at a glance, as of now (admin, staff, readonly; provider keys: 403).

    - `patient`: the demographics, as `GET /patients/{id}` answers them.
    - `age`: whole years on the UTC date of `as_of` (a 29 February birthday counts from
      1 March in other years).
    - `next_appointment`: the earliest booked or checked-in appointment ending after
      `as_of`, or null.
    - `last_visit`: the completed appointment with the latest start, or null.
    - `recent`: `since` is `as_of` minus 12 months; `cancellations` and `no_shows` count
      the appointments starting in `[since, as_of)` that are cancelled or no-shows now.
    - `as_of`: the moment (UTC) the summary was computed.

    Appointments carry the provider's and patient's display names. Unknown or another
    tenant's patient: 404.
    """
    as_of = datetime.now(UTC)
    since = a_year_before(as_of)
    with one_snapshot():
        patient = _patient(patient_id)
        facts = ask(PatientVisitFacts(patient_id=patient_id, as_of=as_of, since=since))
        next_appointment, last_visit = _named(facts.next_appointment, facts.last_visit)
    return {
        "patient": patient,
        "age": age_on(patient.birth_date, as_of.date()),
        "next_appointment": next_appointment,
        "last_visit": last_visit,
        "recent": {"since": since, "cancellations": facts.cancellations,
                   "no_shows": facts.no_shows},
        "as_of": as_of,
    }


def age_on(birth_date: date, day: date) -> int:
    """Whole years from ``birth_date`` to ``day``."""
    before_birthday = (day.month, day.day) < (birth_date.month, birth_date.day)
    return day.year - birth_date.year - before_birthday


def a_year_before(moment: datetime) -> datetime:
    """The same moment a calendar year earlier (29 February falls back to the 28th)."""
    try:
        return moment.replace(year=moment.year - 1)
    except ValueError:
        return moment.replace(year=moment.year - 1, day=28)


def _patient(patient_id: uuid.UUID, principal: Principal | None = None) -> PatientView:
    # The patient domain says whether the patient exists in this tenant (else 404). A
    # provider key learns nothing of patients it never had an appointment with: 404 too,
    # as GET /patients/{id} answers it.
    if principal is not None and principal.role == Role.PROVIDER and not (
            principal.provider_id is not None
            and ask(ProviderHasPatient(provider_id=principal.provider_id,
                                       patient_id=patient_id))):
        raise NotFound("No such patient.")
    patient: PatientView | None = ask(GetPatient(patient_id=patient_id))
    if patient is None:
        raise NotFound("No such patient.")
    return patient


def _named(*views: AppointmentView | None) -> list[AppointmentView | None]:
    # One batched name lookup for all of them; None stays None, in place.
    named = iter(with_names([view for view in views if view is not None]))
    return [next(named) if view is not None else None for view in views]


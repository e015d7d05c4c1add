"""A patient's appointments and visit summary: the appointment domain's answers composed
with the patient domain's demographics, at the HTTP edge through the query bus.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from flask.typing import ResponseReturnValue

from vitalbridge.appointment.dates import age_on
from vitalbridge.appointment.messages import (
    AppointmentStatus,
    GetPatientSummary,
    ListAppointments,
    PatientSummary,
    ProviderHasPatient,
)
from vitalbridge.appointment.names import with_names
from vitalbridge.appointment.patient_schemas import (
    PAST,
    PatientAppointmentArgs,
    PatientSummarySchema,
)
from vitalbridge.appointment.read_models import DAY_SHEET, PATIENT_SUMMARIES
from vitalbridge.appointment.schemas import AppointmentPageSchema
from vitalbridge.http.auth import TENANT_ROLES, current_principal, requires
from vitalbridge.http.blueprint import Blueprint
from vitalbridge.http.consistency import await_read_models
from vitalbridge.http.error_docs import read_model_answer
from vitalbridge.http.pagination import page_response, timestamp_id_cursor
from vitalbridge.http.queries import ask, one_snapshot
from vitalbridge.http.render import answer_etag
from vitalbridge.messaging.errors import NotFound
from vitalbridge.messaging.messages import Principal, Role
from vitalbridge.messaging.read_models import CURRENT, Freshness
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
@read_model_answer
@blueprint.response(200, PatientSummarySchema)
def patient_summary(patient_id: uuid.UUID) -> ResponseReturnValue:
    """A patient at a glance, from the patient summaries read model (admin, staff,
    readonly; provider keys: 403).

    - `patient`: the demographics, as `GET /patients/{id}` answers them.
    - `age`: whole years on the UTC date of `as_of` (a 29 February birthday counts from
      1 March in other years).
    - `next_appointment`: the earliest booked or checked-in appointment ending after
      `as_of`, or null; `upcoming_count`: how many such appointments there are.
    - `last_visit`: the completed appointment with the latest start, or null.
    - `recent`: `since` is `as_of` minus 12 months; `cancellations` and `no_shows` count
      the appointments starting in `[since, as_of)` that are cancelled or no-shows now.
    - `as_of`: the moment (UTC) of the answer, which the parts above are reckoned from.
    - `meta`: how fresh the read model is; a change committed before `meta.as_of` is in.

    Appointments carry the provider's and patient's display names. From the patient
    summaries and the day sheet (the next visits): index lookups in one statement,
    however long the history. Unknown or another tenant's patient: 404 (a patient
    registered a moment ago may not be in the read model yet: send the registration's
    `Consistency-Token` to wait for it).
    """
    await_read_models([PATIENT_SUMMARIES, DAY_SHEET])
    summary: PatientSummary = ask(GetPatientSummary(patient_id=patient_id))
    if summary.patient is None:
        raise NotFound("No such patient." + _lag_note(summary.freshness))
    as_of = summary.freshness.now
    recent = {"since": summary.since, "cancellations": summary.cancellations,
              "no_shows": summary.no_shows}
    body: dict[str, Any] = {
        "patient": summary.patient,
        "age": age_on(summary.patient.birth_date, as_of.date()),
        "next_appointment": summary.next_appointment,
        "upcoming_count": summary.upcoming_count,
        "last_visit": summary.last_visit,
        "recent": recent,
        "as_of": as_of,
        "meta": summary.freshness.to_json(),
    }
    # Its tag covers what it shows, not the moment: an unchanged summary keeps its tag.
    shown = {**body, "recent": {**recent, "since": None}}
    return body, 200, {"ETag": answer_etag(shown)}


def _lag_note(freshness: Freshness) -> str:
    if freshness.status == CURRENT:
        return ""
    return (f" The patient summaries are {freshness.status} ({freshness.lag_seconds:g} s);"
            " a patient registered since may not be in them yet.")


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

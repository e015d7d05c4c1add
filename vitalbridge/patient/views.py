"""HTTP endpoints of the patient domain: parse, send a message, answer."""

from __future__ import annotations

import uuid
from typing import Any

from flask import url_for
from flask.typing import ResponseReturnValue

from vitalbridge.appointment.messages import ProviderHasPatient
from vitalbridge.http.auth import current_principal, requires
from vitalbridge.http.blueprint import Blueprint
from vitalbridge.http.commands import expected_version, send_command
from vitalbridge.http.error_docs import conditional, conflicts, if_match
from vitalbridge.http.pagination import (
    cursor_values,
    number_value,
    page_response,
    text_value,
    uuid_value,
)
from vitalbridge.http.render import single
from vitalbridge.http.schemas import AckSchema
from vitalbridge.messaging.errors import NotFound
from vitalbridge.messaging.messages import Principal, Role
from vitalbridge.patient import schemas
from vitalbridge.patient.handlers import MrnTaken, PossibleDuplicate
from vitalbridge.patient.messages import (
    GetPatient,
    RegisterPatient,
    SearchPatients,
    UpdatePatient,
)
from vitalbridge.patient.search import search_words
from vitalbridge.services import services

blueprint = Blueprint("patients", __name__, url_prefix="/api/v1",
                      description="Patients: register, update, find.")

WRITERS = (Role.ADMIN, Role.STAFF)
SEARCHERS = (Role.ADMIN, Role.STAFF, Role.READONLY)
# A provider key reads the records of its own patients only (see get_patient).
READERS = (*SEARCHERS, Role.PROVIDER)


@blueprint.post("/patients")
@requires(*WRITERS)
@conflicts(PossibleDuplicate, MrnTaken)
@blueprint.arguments(schemas.RegisterPatientBody)
@blueprint.response(201, schemas.PatientRegisteredSchema)
def register_patient(body: dict[str, Any]) -> ResponseReturnValue:
    """Register Patient: emits patient.created (admin, staff).

    Answers the new id and its MRN (generated when none is sent). 409 `mrn-taken` when
    the MRN is in use; 409 `possible-duplicate` (with `existing_id`) when a patient
    with the same name, ignoring case and accents, and birth date exists, unless
    `confirm_new` is true.
    """
    return send_command(RegisterPatient(**body), created=True, location=lambda ack: url_for(
        "patients.get_patient", patient_id=ack.id))


@blueprint.patch("/patients/<uuid:patient_id>")
@requires(*WRITERS)
@if_match
@blueprint.arguments(schemas.UpdatePatientBody)
@blueprint.response(200, AckSchema)
def update_patient(body: dict[str, Any], patient_id: uuid.UUID) -> ResponseReturnValue:
    """Update Patient: emits patient.updated with the changed fields (admin, staff).

    Only the fields sent change; `null` clears email, phone or address; the MRN cannot
    be changed. `If-Match: "<version>"` makes a stale update 412. Sending the current
    values changes nothing: same version, no event.
    """
    command = UpdatePatient(patient_id=patient_id, changes=body,
                            expected_version=expected_version())
    return send_command(command)


@blueprint.get("/patients")
@requires(*SEARCHERS)
@blueprint.arguments(schemas.PatientSearchArgs, location="query")
@blueprint.response(200, schemas.PatientPageSchema)
def search_patients(args: dict[str, Any]) -> ResponseReturnValue:
    """Search Patients (admin, staff, readonly).

    `q` matches given and family names, ignoring case and accents and tolerating small
    typos and swapped letters; every word of `q` must match a word of the name, in any
    order. With `q`, items are best match first (`score`, higher is better); without
    it, by family then given name. `birth_date`, `phone` and `mrn` filter exactly.
    Both orders page with `next_cursor` (keyset).
    """
    by_score = bool(search_words(args["q"] or ""))
    query = SearchPatients(q=args["q"], birth_date=args["birth_date"], phone=args["phone"],
                           mrn=args["mrn"], limit=args["limit"],
                           after=_after(args["cursor"], by_score))
    rows = services().queries.ask(query, current_principal())
    return page_response(rows, args["limit"], lambda hit: hit.sort_key)


@blueprint.get("/patients/<uuid:patient_id>")
@requires(*READERS)
@blueprint.response(200, schemas.PatientSchema)
@conditional
def get_patient(patient_id: uuid.UUID) -> ResponseReturnValue:
    """One patient (admin, staff, readonly; a provider key: a patient it has or had an
    appointment with, in any status, else 404)."""
    principal = current_principal()
    if principal.role == Role.PROVIDER and not _treated_by(principal, patient_id):
        raise NotFound("No such patient.")
    return single(services().queries.ask(GetPatient(patient_id=patient_id), principal),
                  "patient")


def _treated_by(principal: Principal, patient_id: uuid.UUID) -> bool:
    if principal.provider_id is None:  # never so: CreateApiKey binds every provider key
        return False
    return bool(services().queries.ask(
        ProviderHasPatient(provider_id=principal.provider_id, patient_id=patient_id),
        principal))


def _after(cursor: str | None, by_score: bool) -> tuple[Any, ...] | None:
    """The sort key a cursor carries: (score, id) when searching, else (name, id)."""
    return cursor_values(cursor, number_value if by_score else text_value, uuid_value)

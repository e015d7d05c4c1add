"""Query handlers of the patient domain (read-only, row-level security scopes them)."""

from __future__ import annotations

import functools
import uuid
from typing import Any

from sqlalchemy import Select, bindparam, select

from vitalbridge.db import among
from vitalbridge.driver_sql import DriverStatement
from vitalbridge.messaging.bus import ReadContext
from vitalbridge.patient.messages import (
    Address,
    GetPatient,
    GetPatients,
    PatientHit,
    PatientIds,
    PatientView,
    SearchPatients,
)
from vitalbridge.patient.model import VIEW_COLUMNS, Patient
from vitalbridge.patient.search import search_statement, search_words, use_search_settings


def get_patient(query: GetPatient, ctx: ReadContext) -> PatientView | None:
    """One patient by id (another tenant's is None, like a missing one)."""
    row = _ONE.first(ctx.session, {"patient_id": query.patient_id})
    return _view(row) if row else None


def get_patients(query: GetPatients, ctx: ReadContext) -> list[PatientView]:
    """Several patients in one round trip, in the order asked."""
    if not query.ids:
        return []
    # Columns, not entities: a read model asks for hundreds at once.
    found = {p.id: p for p in ctx.session.execute(
        select(*VIEW_COLUMNS).where(among(Patient.id, set(query.ids))))}
    return [_view(found[i]) for i in dict.fromkeys(query.ids) if i in found]


def patient_ids(query: PatientIds, ctx: ReadContext) -> list[uuid.UUID]:
    """A page of ids along the primary key."""
    stmt = select(Patient.id).order_by(Patient.id).limit(query.limit)
    if query.after is not None:
        stmt = stmt.where(Patient.id > query.after)
    return list(ctx.session.scalars(stmt))


def search_patients(query: SearchPatients, ctx: ReadContext) -> list[PatientHit]:
    """A page of patients (one more than asked, to tell whether more follow)."""
    searching = bool(search_words(query.q or ""))
    if searching:
        use_search_settings(ctx.session)
    statement, parameters = search_statement(query)
    return [PatientHit(**_fields(hit), score=hit.score,
                       sort_key=(hit.score if searching else hit.sort_name, hit.id))
            for hit in _through_driver(statement).rows(ctx.session, parameters)]


@functools.lru_cache(maxsize=1024)
def _through_driver(statement: Select[Any]) -> DriverStatement:
    # Search statements are built once per form (vitalbridge/patient/search.py), so this
    # compiles each form once; prepared, the database plans each once per connection.
    return DriverStatement.of(statement)


# Through the driver (vitalbridge/driver_sql.py): every booking asks for its patient.
_ONE = DriverStatement.of(select(*VIEW_COLUMNS).where(Patient.id == bindparam("patient_id")))


def _view(patient: Any) -> PatientView:
    return PatientView(**_fields(patient))


def _fields(patient: Any) -> dict[str, Any]:
    return {
        "id": patient.id, "mrn": patient.mrn, "given_name": patient.given_name,
        "family_name": patient.family_name, "birth_date": patient.birth_date,
        "sex": patient.sex, "email": patient.email, "phone": patient.phone,
        "address": Address(**patient.address) if patient.address else None,
        "version": patient.version, "created_at": patient.created_at,
        "updated_at": patient.updated_at,
    }


QUERY_HANDLERS = {
    GetPatient: get_patient,
    GetPatients: get_patients,
    PatientIds: patient_ids,
    SearchPatients: search_patients,
}

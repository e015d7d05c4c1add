"""Command handlers of the patient domain."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Any

from sqlalchemy import func, literal, select, text
from sqlalchemy.dialects.postgresql import insert

from vitalbridge.messaging.errors import DomainError, InvalidCommand, NotFound, require_version
from vitalbridge.messaging.messages import Ack
from vitalbridge.messaging.uow import UnitOfWork
from vitalbridge.patient.messages import (
    UPDATABLE_FIELDS,
    Address,
    PatientCreated,
    PatientUpdated,
    RegisterPatient,
    UpdatePatient,
)
from vitalbridge.patient.model import IssuedMrn, Patient
from vitalbridge.patient.mrn import new_mrn, normalise_mrn

MRN_DRAWS = 8  # 32^7 codes: a second draw is already a rarity


class MrnTaken(DomainError):
    """The supplied MRN was already issued in this tenant."""

    type = "mrn-taken"
    title = "MRN already in use"


class PossibleDuplicate(DomainError):
    """A patient with the same name and birth date exists; confirm_new registers anyway."""

    type = "possible-duplicate"
    title = "Possible duplicate patient"


def register_patient(cmd: RegisterPatient, uow: UnitOfWork) -> Ack:
    """Register a patient, refusing likely duplicates, and issue (or accept) its MRN."""
    tenant_id = uow.acting_tenant
    if not cmd.confirm_new:
        _refuse_duplicate(cmd, uow)
    patient_id = uuid.uuid4()
    mrn = _issue_mrn(uow, tenant_id, patient_id, cmd.mrn)
    uow.session.add(Patient(
        tenant_id=tenant_id, id=patient_id, mrn=mrn, given_name=cmd.given_name,
        family_name=cmd.family_name, birth_date=cmd.birth_date, sex=cmd.sex, email=cmd.email,
        phone=cmd.phone, address=_stored_address(cmd.address)))
    uow.emit(PatientCreated(
        tenant_id=tenant_id, aggregate_id=patient_id, mrn=mrn, given_name=cmd.given_name,
        family_name=cmd.family_name, birth_date=cmd.birth_date, sex=cmd.sex, email=cmd.email,
        phone=cmd.phone, address=cmd.address))
    return Ack(id=patient_id, version=1, extra={"mrn": mrn})


def update_patient(cmd: UpdatePatient, uow: UnitOfWork) -> Ack:
    """Apply the fields that really change; bump the version and emit only if any do."""
    tenant_id = uow.acting_tenant
    patient = uow.session.get(Patient, (tenant_id, cmd.patient_id), with_for_update=True)
    if patient is None:
        raise NotFound("No such patient.")
    require_version("patient", patient.version, cmd.expected_version)
    changes = _real_changes(patient, cmd.changes)
    if changes:
        for name, value in changes.items():
            setattr(patient, name, _stored(name, value))
        patient.version += 1
        patient.updated_at = func.now()
        uow.emit(PatientUpdated(tenant_id=tenant_id, aggregate_id=patient.id, changes=changes))
    return Ack(id=patient.id, version=patient.version)


def _refuse_duplicate(cmd: RegisterPatient, uow: UnitOfWork) -> None:
    name = func.lower(func.public.vb_unaccent(literal(f"{cmd.given_name} {cmd.family_name}")))
    # Two desks registering the same person at once: the second waits for the first
    # to commit, then sees it. (The lock is per name and birth date, within the tenant.)
    uow.session.execute(text(
        "SELECT pg_advisory_xact_lock(hashtextextended("
        "current_setting('app.tenant_id') || lower(public.vb_unaccent(:name)) || :born, 0))"),
        {"name": f"{cmd.given_name} {cmd.family_name}", "born": cmd.birth_date.isoformat()})
    existing = uow.session.scalar(
        select(Patient.id).where(Patient.birth_date == cmd.birth_date,
                                 Patient.search_name == name)
        .order_by(Patient.created_at, Patient.id).limit(1))
    if existing is not None:
        raise PossibleDuplicate(
            "A patient with this name and birth date is already registered; check it, or "
            'send "confirm_new": true to register a different person anyway.',
            existing_id=str(existing))


def _issue_mrn(uow: UnitOfWork, tenant_id: uuid.UUID, patient_id: uuid.UUID,
               supplied: str | None) -> str:
    if supplied is not None:
        mrn = normalise_mrn(supplied)
        if not _record_mrn(uow, tenant_id, patient_id, mrn):
            raise _mrn_taken(mrn)
        return mrn
    for _ in range(MRN_DRAWS):
        mrn = new_mrn()
        if _record_mrn(uow, tenant_id, patient_id, mrn):
            return mrn
    raise RuntimeError("could not draw an unused MRN")  # pragma: no cover - 1 in 10^80


def _record_mrn(uow: UnitOfWork, tenant_id: uuid.UUID, patient_id: uuid.UUID,
                mrn: str) -> bool:
    # ON CONFLICT waits for a concurrent insert of the same MRN to commit or roll back,
    # so exactly one of two racing registrations gets it, without an error to recover.
    issued = uow.session.scalar(
        insert(IssuedMrn).values(tenant_id=tenant_id, mrn=mrn, patient_id=patient_id)
        .on_conflict_do_nothing().returning(IssuedMrn.mrn))
    return issued is not None


def _mrn_taken(mrn: str) -> MrnTaken:
    return MrnTaken(f"The MRN '{mrn}' is already in use in this clinic.",
                    errors={"mrn": ["Already in use."]})


def _real_changes(patient: Patient, requested: Any) -> dict[str, Any]:
    unknown = set(requested) - set(UPDATABLE_FIELDS)
    if unknown:
        raise InvalidCommand("These fields cannot be changed.",
                             errors={name: ["Cannot be changed."] for name in sorted(unknown)})
    return {name: value for name, value in requested.items()
            if _stored(name, value) != getattr(patient, name)}


def _stored(name: str, value: Any) -> Any:
    return _stored_address(value) if name == "address" else value


def _stored_address(address: Address | None) -> dict[str, Any] | None:
    return asdict(address) if address is not None else None



# The last word when two registrations race past the checks above (never a 500).
CONSTRAINT_ERRORS = {
    "uq_patients_tenant_id_mrn": lambda cmd: _mrn_taken(normalise_mrn(cmd.mrn or "")),
    "pk_patient_mrns": lambda cmd: _mrn_taken(normalise_mrn(cmd.mrn or "")),
}

COMMAND_HANDLERS = {
    RegisterPatient: register_patient,
    UpdatePatient: update_patient,
}

"""factory-boy factory for patients, built through the real command bus."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import factory

from tests.factories import dispatch_as_system
from vitalbridge.patient.messages import RegisterPatient


@dataclass(frozen=True)
class PatientHandle:
    """A registered patient."""

    id: uuid.UUID
    mrn: str
    given_name: str
    family_name: str


class PatientFactory(factory.Factory):
    """A patient, registered through RegisterPatient; pass ``tenant_id`` (app context)."""

    class Meta:
        model = RegisterPatient

    given_name = factory.Faker("first_name")
    family_name = factory.Faker("last_name")
    birth_date = factory.Faker("date_of_birth", minimum_age=0, maximum_age=100)
    sex = "unknown"
    # Faker may repeat a name; a factory asks for a patient, not a duplicate check.
    confirm_new = True

    @classmethod
    def _create(cls, model_class, *args, tenant_id, **kwargs):  # type: ignore[no-untyped-def]
        ack = dispatch_as_system(model_class(**kwargs), tenant_id)
        return PatientHandle(id=ack.id, mrn=ack.extra["mrn"], given_name=kwargs["given_name"],
                             family_name=kwargs["family_name"])

"""Display names on appointment views, asked of the provider and patient domains.

The appointment domain stores ids only; every endpoint that shows appointments fills in
the names here, with one batched query per domain for a whole page.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from vitalbridge.appointment.messages import AppointmentView
from vitalbridge.http.queries import ask
from vitalbridge.patient.messages import GetPatients
from vitalbridge.provider.messages import FindProviders


def with_names(rows: Sequence[AppointmentView]) -> list[AppointmentView]:
    """``rows`` with provider and patient names: one provider and one patient query."""
    if not rows:
        return list(rows)
    providers = ask(FindProviders(ids=tuple({row.provider_id for row in rows})))
    patients = ask(GetPatients(ids=tuple({row.patient_id for row in rows})))
    provider_names = {p.id: display_name(p) for p in providers}
    patient_names = {p.id: display_name(p) for p in patients}
    return [dataclasses.replace(row, provider_name=provider_names.get(row.provider_id),
                                patient_name=patient_names.get(row.patient_id))
            for row in rows]


def display_name(person: Any) -> str | None:
    """Given then family name of a provider or patient view; None when there is none."""
    return f"{person.given_name} {person.family_name}" if person is not None else None

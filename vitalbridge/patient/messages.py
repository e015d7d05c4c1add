"""The patient domain's public face: its commands, queries, events and views.

Other domains use ``GetPatient`` / ``GetPatients`` (e.g. display names on appointment
lists) and subscribe to ``patient.created`` / ``patient.updated``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, ClassVar

from vitalbridge.messaging.messages import Command, Event, Query

SEXES = ("female", "male", "other", "unknown")
# The fields UpdatePatient may change (never id, tenant, version or MRN).
UPDATABLE_FIELDS = ("given_name", "family_name", "birth_date", "sex", "email", "phone",
                    "address")


@dataclass(frozen=True)
class Address:
    """A postal address; ``country`` is an ISO 3166-1 alpha-2 code."""

    line: str
    city: str
    country: str
    postal_code: str | None = None


# Commands ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RegisterPatient(Command):
    """Register a patient in the acting tenant; a missing MRN is generated.

    A patient with the same normalised name and birth date is refused as a possible
    duplicate unless ``confirm_new`` says the clinic checked.
    """

    given_name: str
    family_name: str
    birth_date: date
    sex: str = "unknown"
    email: str | None = None
    phone: str | None = None
    address: Address | None = None
    mrn: str | None = None
    confirm_new: bool = False


@dataclass(frozen=True, kw_only=True)
class UpdatePatient(Command):
    """Change some of a patient's UPDATABLE_FIELDS; ``changes`` holds only those sent."""

    target_field: ClassVar[str | None] = "patient_id"

    patient_id: uuid.UUID
    changes: Mapping[str, Any]
    expected_version: int | None = None


# Events -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PatientCreated(Event):
    """A patient was registered."""

    type: ClassVar[str] = "patient.created"
    aggregate_type: ClassVar[str] = "patient"

    mrn: str
    given_name: str
    family_name: str
    birth_date: date
    sex: str
    email: str | None
    phone: str | None
    address: Address | None


@dataclass(frozen=True, kw_only=True)
class PatientUpdated(Event):
    """Some of a patient's fields changed; ``changes`` holds their new values only."""

    type: ClassVar[str] = "patient.updated"
    aggregate_type: ClassVar[str] = "patient"

    changes: dict[str, Any] = field(default_factory=dict)


# Queries and their answers ---------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class GetPatient(Query):
    """One patient of the asking tenant, or None."""

    patient_id: uuid.UUID


@dataclass(frozen=True, kw_only=True)
class GetPatients(Query):
    """Several patients at once, in the order asked; unknown ids are left out."""

    ids: tuple[uuid.UUID, ...]


@dataclass(frozen=True, kw_only=True)
class PatientIds(Query):
    """The ids of the asking tenant's patients after ``after``, in id order (a page).

    For read models that recompute every patient (a rebuild walks them all).
    """

    after: uuid.UUID | None = None
    limit: int


@dataclass(frozen=True, kw_only=True)
class SearchPatients(Query):
    """Find patients: ``q`` by name (best match first), exact filters, keyset pages.

    ``after`` is the ``sort_key`` of the last hit of the previous page.
    """

    q: str | None = None
    birth_date: date | None = None
    phone: str | None = None
    mrn: str | None = None
    limit: int = 50
    after: tuple[Any, ...] | None = None


@dataclass(frozen=True)
class PatientView:
    """A patient as queries answer it."""

    id: uuid.UUID
    mrn: str
    given_name: str
    family_name: str
    birth_date: date
    sex: str
    email: str | None
    phone: str | None
    address: Address | None
    version: int
    created_at: datetime
    updated_at: datetime

    @property
    def display_name(self) -> str:
        """The name to show on lists: given then family name."""
        return f"{self.given_name} {self.family_name}"


@dataclass(frozen=True)
class PatientHit(PatientView):
    """A search result: the patient, its relevance to ``q`` (None without ``q``) and
    the key the next page starts after."""

    score: float | None
    sort_key: tuple[Any, ...]

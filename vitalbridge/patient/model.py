"""Tables of the patient domain (private to it)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import CheckConstraint, Computed, Date, Index, Integer, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import DateTime, Uuid

from vitalbridge.db import Base

NOW = text("now()")
# Lower-cased, unaccented names (public.vb_unaccent is the IMMUTABLE wrapper made by
# migration 0004): what name search and the duplicate guard compare.
SEARCH_NAME = "lower(public.vb_unaccent(given_name || ' ' || family_name))"
# The same, family name first: the order of plain (non-search) lists.
SORT_NAME = "lower(public.vb_unaccent(family_name || ' ' || given_name))"
TRIGRAM_INDEX = "ix_patients_search_name_trgm"
NAMES_TRIGRAM_INDEX = "ix_patient_names_search_name_trgm"


class Patient(Base):
    """A patient of one tenant."""

    __tablename__ = "patients"

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    mrn: Mapped[str] = mapped_column(Text)
    given_name: Mapped[str] = mapped_column(Text)
    family_name: Mapped[str] = mapped_column(Text)
    birth_date: Mapped[date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(Text, server_default=text("'unknown'"))
    email: Mapped[str | None] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(Text)
    address: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=NOW)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=NOW)
    search_name: Mapped[str] = mapped_column(Text, Computed(SEARCH_NAME, persisted=True))
    sort_name: Mapped[str] = mapped_column(Text, Computed(SORT_NAME, persisted=True))

    __table_args__ = (
        UniqueConstraint("tenant_id", "mrn"),
        CheckConstraint("sex IN ('female', 'male', 'other', 'unknown')", name="sex"),
        Index("ix_patients_tenant_id_birth_date", "tenant_id", "birth_date"),
        Index("ix_patients_tenant_id_phone", "tenant_id", "phone"),
        Index("ix_patients_tenant_id_sort_name_id", "tenant_id", "sort_name", "id"),
        # A name's patients newest id first: a search page, name by name.
        Index("ix_patients_tenant_id_search_name_id", "tenant_id", "search_name", "id"),
        # fastupdate off: a GIN pending list would make the planner shun this index
        # (and every search scan the list) until the next vacuum after bulk inserts.
        Index(TRIGRAM_INDEX, "search_name", postgresql_using="gin",
              postgresql_ops={"search_name": "gin_trgm_ops"},
              postgresql_with={"fastupdate": "off"}),
    )



# A patient as queries answer it (every column but the generated search and sort names).
VIEW_COLUMNS = (Patient.id, Patient.mrn, Patient.given_name, Patient.family_name,
                Patient.birth_date, Patient.sex, Patient.email, Patient.phone,
                Patient.address, Patient.version, Patient.created_at, Patient.updated_at)

class PatientName(Base):
    """Every search name a patient of the tenant has had, once however many share it.

    Search ranks these and then reads each name's patients: a score depends on the name
    alone, and a common name scored once per patient (thousands in a large clinic) was
    most of a search's time. Kept by a trigger on ``patients`` (migration 0027), so rows
    written by any path are found; a name no patient has any more stays and finds none.
    """

    __tablename__ = "patient_names"

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    search_name: Mapped[str] = mapped_column(Text, primary_key=True)

    __table_args__ = (
        Index(NAMES_TRIGRAM_INDEX, "search_name", postgresql_using="gin",
              postgresql_ops={"search_name": "gin_trgm_ops"},
              postgresql_with={"fastupdate": "off"}),
    )


class IssuedMrn(Base):
    """Every MRN a tenant ever issued or accepted: an MRN is never handed out twice,
    even if its patient row were later erased or merged away."""

    __tablename__ = "patient_mrns"

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    mrn: Mapped[str] = mapped_column(Text, primary_key=True)
    patient_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=NOW)

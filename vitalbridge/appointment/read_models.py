"""The appointment domain's read models: patient summaries and the day sheet.

Both are recomputed per key from the owners' answers (the patient, provider and
appointment domains, through the query bus), so the order and repetition of deliveries
never matter. What changes with the mere passing of time (which visit is next, which
misses fall in the last 12 months) is left for the answer to pick at its own moment:
the summary rows keep every miss from a year before their computation onwards, and a
patient's next visits are the day sheet's pending lines, read beside the summary row.
So a booking touches one day-sheet line and no summary: a summary is recomputed whole
when a patient changes (or the provider of their last visit is renamed), and only its
visit columns when one of their appointments ends. Likewise a change of status rewrites
only the status columns of its day-sheet line.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from vitalbridge.appointment import read_model_tables as tables
from vitalbridge.appointment.dates import a_year_before
from vitalbridge.appointment.messages import (
    APPOINTMENT_EVENTS,
    AppointmentCancelled,
    AppointmentCheckedIn,
    AppointmentCompleted,
    AppointmentIds,
    AppointmentNoShow,
    AppointmentView,
    GetAppointments,
    PatientVisitDigests,
)
from vitalbridge.messaging.messages import dataclass_json
from vitalbridge.messaging.read_models import Key, Reader, ReadModel, Row
from vitalbridge.patient.messages import (
    GetPatients,
    PatientCreated,
    PatientIds,
    PatientUpdated,
    PatientView,
)
from vitalbridge.provider.messages import FindProviders, ProviderUpdated, ProviderView
from vitalbridge.tenant.messages import TenantCreated

# A provider's rename, new specialty or zone shows on rows; a new phone number does not.
SHOWN_PROVIDER_FIELDS = frozenset({"given_name", "family_name", "specialty", "timezone"})


def _shown_provider_changes(envelopes: Iterable[dict[str, Any]]) -> list[uuid.UUID]:
    return [uuid.UUID(e["aggregate_id"]) for e in envelopes
            if e["type"] == ProviderUpdated.type
            and SHOWN_PROVIDER_FIELDS & set(e["data"].get("changes", {}))]


def _now(reader: Reader) -> datetime:
    # The database's clock, which answers compare the rows with.
    return reader.session.scalar(select(func.clock_timestamp()))  # type: ignore[return-value]


def _provider_names(reader: Reader, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, ProviderView]:
    wanted = tuple(set(ids))
    if not wanted:
        return {}
    return {p.id: p for p in reader.ask(FindProviders(ids=wanted))}


# The events that end an appointment (its status final): only these change a patient's
# last visit or misses.
ENDING_EVENTS = frozenset({AppointmentCancelled.type, AppointmentCompleted.type,
                           AppointmentNoShow.type})
# What an appointment's end changes in a summary, recomputed from the appointments and
# the providers alone: a cancellation, completion or no-show reads no patient. So the
# stored last visit leaves the patient's name out; an answer takes it from the row.
VISIT_COLUMNS = ("last_visit", "last_visit_start", "cancelled_starts", "no_show_starts",
                 "provider_ids", "computed_at")


class PatientSummaries(ReadModel):
    """One row per patient: demographics, last visit, recent misses."""

    name = "patient_summaries"
    event_types = frozenset({TenantCreated.type, PatientCreated.type, PatientUpdated.type,
                             ProviderUpdated.type, *ENDING_EVENTS})
    table = tables.patient_summaries
    staging = tables.patient_summaries_staging
    key_column = "patient_id"
    part_columns = VISIT_COLUMNS

    def keys_of(self, envelopes: Sequence[dict[str, Any]], reader: Reader) -> set[Key]:
        """Patients named by the events, and those shown with a renamed provider."""
        keys = {e["aggregate_id"] for e in envelopes if e["type"] in
                (PatientCreated.type, PatientUpdated.type)}
        renamed = _shown_provider_changes(envelopes)
        if renamed:
            shown = self.table.c.provider_ids
            keys |= {str(patient_id) for patient_id in reader.session.scalars(
                select(self.table.c.patient_id).where(shown.overlap(renamed)))}
        return keys

    def part_keys_of(self, envelopes: Sequence[dict[str, Any]], reader: Reader) -> set[Key]:
        """Patients one of whose appointments ended: their visit columns."""
        return {e["data"]["patient_id"] for e in envelopes if e["type"] in ENDING_EVENTS}

    def rows_for(self, keys: Sequence[Key], reader: Reader) -> list[Row]:
        """Three questions (patients, visits, provider names) for any number of keys."""
        patients = reader.ask(GetPatients(ids=tuple(uuid.UUID(key) for key in keys)))
        visits = _visit_columns(reader, [patient.id for patient in patients])
        return [{**_demographics(patient), **visits[patient.id]} for patient in patients]

    def part_rows_for(self, keys: Sequence[Key], reader: Reader) -> list[Row]:
        """Two questions (visits, provider names) for any number of keys."""
        return list(_visit_columns(reader, [uuid.UUID(key) for key in keys]).values())

    def comparable(self, row: Row, now: datetime) -> Row:
        """Misses older than a year drop out of answers by time alone (an answer counts
        those of its own year): a row computed earlier may still hold them."""
        since = a_year_before(now)
        return super().comparable({
            **row, **{column: [start for start in row[column] if start >= since]
                      for column in ("cancelled_starts", "no_show_starts")}}, now)

    def key_page(self, reader: Reader, after: Key | None, limit: int) -> list[Key]:
        """Every patient of the tenant, by id."""
        page = reader.ask(PatientIds(after=uuid.UUID(after) if after else None, limit=limit))
        return [str(patient_id) for patient_id in page]


def _demographics(patient: PatientView) -> Row:
    return {"patient_id": patient.id, "patient": dataclass_json(patient),
            "birth_date": patient.birth_date, "display_name": patient.display_name}


def _visit_columns(reader: Reader, patient_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Row]:
    """Each patient's VISIT_COLUMNS, with the key column."""
    now = _now(reader)
    digests = reader.ask(PatientVisitDigests(patient_ids=tuple(patient_ids),
                                             since=a_year_before(now)))
    providers = _provider_names(reader, (d.last_visit.provider_id for d in digests.values()
                                         if d.last_visit))
    return {patient_id: _visits_row(patient_id, digest, providers, now)
            for patient_id, digest in digests.items()}


def _visits_row(patient_id: uuid.UUID, digest: Any, providers: dict[uuid.UUID, ProviderView],
                now: datetime) -> Row:
    last = digest.last_visit
    return {
        "patient_id": patient_id,
        "last_visit": _with_provider_name(last, providers) if last else None,
        "last_visit_start": last.start if last else None,
        "cancelled_starts": list(digest.cancelled_starts),
        "no_show_starts": list(digest.no_show_starts),
        "provider_ids": [last.provider_id] if last else [],
        "computed_at": now,
    }


def _with_provider_name(view: AppointmentView,
                        providers: dict[uuid.UUID, ProviderView]) -> dict[str, Any]:
    provider = providers.get(view.provider_id)
    return appointment_json(dataclasses.replace(
        view, provider_name=provider.display_name if provider else None))


# The events that change an appointment's status only (its period, provider, patient and
# reason stay): on its line, the status columns below, read from the appointment alone.
STATUS_EVENTS = frozenset({AppointmentCheckedIn.type, *ENDING_EVENTS})
STATUS_COLUMNS = ("status", "cancel_reason", "version", "updated_by_key_id", "updated_at",
                  "computed_at")


class DaySheet(ReadModel):
    """One row per appointment, filed under its provider's local date, with its names."""

    name = "day_sheet"
    event_types = frozenset({TenantCreated.type, ProviderUpdated.type, *APPOINTMENT_EVENTS})
    table = tables.day_sheet
    staging = tables.day_sheet_staging
    key_column = "appointment_id"
    part_columns = STATUS_COLUMNS

    def keys_of(self, envelopes: Sequence[dict[str, Any]], reader: Reader) -> set[Key]:
        """Appointments booked or moved, and every one of a renamed provider."""
        keys = {e["aggregate_id"] for e in envelopes
                if e["type"] in APPOINTMENT_EVENTS and e["type"] not in STATUS_EVENTS}
        renamed = _shown_provider_changes(envelopes)
        if renamed:
            keys |= {str(appointment_id) for appointment_id in reader.session.scalars(
                select(self.table.c.appointment_id).where(
                    self.table.c.provider_id.in_(renamed)))}
        return keys

    def part_keys_of(self, envelopes: Sequence[dict[str, Any]], reader: Reader) -> set[Key]:
        """Appointments whose status changed: the status columns of their lines."""
        return {e["aggregate_id"] for e in envelopes if e["type"] in STATUS_EVENTS}

    def rows_for(self, keys: Sequence[Key], reader: Reader) -> list[Row]:
        """Two questions (appointments, providers) for any number of keys."""
        now = _now(reader)
        appointments = reader.ask(GetAppointments(ids=tuple(uuid.UUID(k) for k in keys)))
        providers = _provider_names(reader, (a.provider_id for a in appointments))
        return [_day_sheet_row(a, providers[a.provider_id], now) for a in appointments
                if a.provider_id in providers]

    def part_rows_for(self, keys: Sequence[Key], reader: Reader) -> list[Row]:
        """One question (appointments) for any number of keys."""
        now = _now(reader)
        appointments = reader.ask(GetAppointments(ids=tuple(uuid.UUID(k) for k in keys)))
        return [_status_row(appointment, now) for appointment in appointments]

    def key_page(self, reader: Reader, after: Key | None, limit: int) -> list[Key]:
        """Every appointment of the tenant, by id."""
        page = reader.ask(AppointmentIds(after=uuid.UUID(after) if after else None,
                                         limit=limit))
        return [str(appointment_id) for appointment_id in page]


def _status_row(appointment: AppointmentView, now: datetime) -> Row:
    return {"appointment_id": appointment.id, "status": appointment.status,
            "cancel_reason": appointment.cancel_reason, "version": appointment.version,
            "updated_by_key_id": appointment.updated_by_key_id,
            "updated_at": appointment.updated_at, "computed_at": now}


def _day_sheet_row(appointment: AppointmentView, provider: ProviderView, now: datetime) -> Row:
    return {
        "appointment_id": appointment.id, "provider_id": appointment.provider_id,
        "patient_id": appointment.patient_id,
        "local_date": appointment.start.astimezone(ZoneInfo(provider.timezone)).date(),
        "starts_at": appointment.start, "ends_at": appointment.end,
        "status": appointment.status, "reason": appointment.reason,
        "provider_name": provider.display_name, "specialty": provider.specialty,
        "timezone": provider.timezone, "version": appointment.version, "computed_at": now,
        "cancel_reason": appointment.cancel_reason,
        "created_by_key_id": appointment.created_by_key_id,
        "updated_by_key_id": appointment.updated_by_key_id,
        "created_at": appointment.created_at, "updated_at": appointment.updated_at,
    }


def appointment_json(view: AppointmentView) -> dict[str, Any]:
    """An appointment view as a read model stores it."""
    return dataclass_json(view)


_INSTANTS = ("start", "end", "created_at", "updated_at")


def appointment_from_json(stored: dict[str, Any]) -> AppointmentView:
    """The appointment view a read model stored."""
    values = dict(stored)
    for name in _INSTANTS:
        values[name] = datetime.fromisoformat(values[name])
    for name in ("id", "provider_id", "patient_id", "created_by_key_id", "updated_by_key_id"):
        if values[name] is not None:
            values[name] = uuid.UUID(values[name])
    return AppointmentView(**values)


PATIENT_SUMMARIES = PatientSummaries()
DAY_SHEET = DaySheet()
READ_MODELS: tuple[ReadModel, ...] = (PATIENT_SUMMARIES, DAY_SHEET)

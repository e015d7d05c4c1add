"""The appointment domain's public face: its commands, events, queries and views.

Create and Reschedule Appointment carry facts other domains answered at the HTTP edge
(the provider's active flag, its working periods and approved leave over the window,
the clinic's minimum notice), so the handler decides every rule without reading another
domain's tables.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, ClassVar, NamedTuple

from vitalbridge.messaging.messages import Command, Event, Query
from vitalbridge.messaging.read_models import Freshness
from vitalbridge.patient.messages import PatientView

Span = tuple[datetime, datetime]


class AppointmentStatus(enum.StrEnum):
    """Where an appointment stands; booked, checked_in and completed hold their slot."""

    BOOKED = "booked"
    CHECKED_IN = "checked_in"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"


# The cancel reason of the appointments the system cancels because the provider cannot
# see the patient (approved leave, deactivation).
PROVIDER_UNAVAILABLE = "provider_unavailable"


# The statuses that hold the provider's and the patient's time (the exclusion
# constraints of the appointments table cover exactly these).
ACTIVE_STATUSES = frozenset({AppointmentStatus.BOOKED, AppointmentStatus.CHECKED_IN,
                             AppointmentStatus.COMPLETED})


# Commands ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class CreateAppointment(Command):
    """Book ``[start, end)``; ``provider_active`` to ``min_notice`` are resolved facts."""

    provider_id: uuid.UUID
    patient_id: uuid.UUID
    start: datetime
    end: datetime
    reason: str | None = None
    provider_active: bool
    working: tuple[Span, ...]
    leave: tuple[Span, ...]
    min_notice: timedelta = timedelta(0)


@dataclass(frozen=True, kw_only=True)
class CancelAppointment(Command):
    """Cancel a booked or checked-in appointment; a cancelled one stays as it is."""

    target_field: ClassVar[str | None] = "appointment_id"

    appointment_id: uuid.UUID
    reason: str
    expected_version: int | None = None


@dataclass(frozen=True, kw_only=True)
class CheckInAppointment(Command):
    """The patient arrived: booked -> checked_in."""

    target_field: ClassVar[str | None] = "appointment_id"

    appointment_id: uuid.UUID
    expected_version: int | None = None


@dataclass(frozen=True, kw_only=True)
class CompleteAppointment(Command):
    """The visit took place: checked_in -> completed."""

    target_field: ClassVar[str | None] = "appointment_id"

    appointment_id: uuid.UUID
    expected_version: int | None = None


@dataclass(frozen=True, kw_only=True)
class MarkNoShow(Command):
    """The patient did not come: booked -> no_show, only once the start has passed."""

    target_field: ClassVar[str | None] = "appointment_id"

    appointment_id: uuid.UUID
    expected_version: int | None = None


@dataclass(frozen=True, kw_only=True)
class RescheduleAppointment(Command):
    """Move a booked appointment to ``[start, end)``; the facts are those of the new window.

    ``provider_active``, ``working`` and ``leave`` are resolved at the HTTP edge, as for
    CreateAppointment; the same rules decide.
    """

    target_field: ClassVar[str | None] = "appointment_id"

    appointment_id: uuid.UUID
    start: datetime
    end: datetime
    provider_active: bool
    working: tuple[Span, ...]
    leave: tuple[Span, ...]
    min_notice: timedelta = timedelta(0)
    expected_version: int | None = None


@dataclass(frozen=True, kw_only=True)
class SendDueReminders(Command):
    """Emit ``appointment.reminder_due`` for every booked appointment whose start is within
    one of ``lead_minutes`` of ``now`` and whose reminder for that lead has not gone out.

    ``lead_minutes`` is the clinic's setting, resolved by the caller (the scheduler).
    """

    now: datetime
    lead_minutes: tuple[int, ...]


# Events -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class _AppointmentEvent(Event):
    aggregate_type: ClassVar[str] = "appointment"

    provider_id: uuid.UUID
    patient_id: uuid.UUID
    start: datetime
    end: datetime


@dataclass(frozen=True, kw_only=True)
class AppointmentCreated(_AppointmentEvent):
    """An appointment was booked."""

    type: ClassVar[str] = "appointment.created"
    reason: str | None


@dataclass(frozen=True, kw_only=True)
class AppointmentCancelled(_AppointmentEvent):
    """An appointment was cancelled; ``was`` is the status it had."""

    type: ClassVar[str] = "appointment.cancelled"
    reason: str
    was: str


@dataclass(frozen=True, kw_only=True)
class AppointmentCheckedIn(_AppointmentEvent):
    """The patient checked in."""

    type: ClassVar[str] = "appointment.checked_in"


@dataclass(frozen=True, kw_only=True)
class AppointmentCompleted(_AppointmentEvent):
    """The visit was completed."""

    type: ClassVar[str] = "appointment.completed"


@dataclass(frozen=True, kw_only=True)
class AppointmentNoShow(_AppointmentEvent):
    """The patient did not come."""

    type: ClassVar[str] = "appointment.no_show"


@dataclass(frozen=True, kw_only=True)
class AppointmentRescheduled(_AppointmentEvent):
    """An appointment moved: ``start``/``end`` are the new period, ``previous_*`` the old."""

    type: ClassVar[str] = "appointment.rescheduled"
    previous_start: datetime
    previous_end: datetime


@dataclass(frozen=True, kw_only=True)
class AppointmentReminderDue(Event):
    """A booked appointment starts within ``lead_minutes``: time to remind the patient.

    Once per appointment, start and lead time; ids and the start only (no PHI), for the
    integrations that send the SMS or e-mail.
    """

    type: ClassVar[str] = "appointment.reminder_due"
    aggregate_type: ClassVar[str] = "appointment"

    appointment_id: uuid.UUID
    patient_id: uuid.UUID
    provider_id: uuid.UUID
    start: datetime
    lead_minutes: int


# Every event of an appointment's life: each names its provider, patient and period.
APPOINTMENT_EVENTS = frozenset({
    AppointmentCreated.type, AppointmentCancelled.type, AppointmentCheckedIn.type,
    AppointmentCompleted.type, AppointmentNoShow.type, AppointmentRescheduled.type})


# Queries and their answers ---------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class CountDueReminders(Query):
    """How many reminders ``SendDueReminders`` would emit now (the scheduler asks first,
    so that a minute with nothing due sends no command and writes no audit row)."""

    reads_primary: ClassVar[bool] = True  # a replica's lag would hide what is due

    now: datetime
    lead_minutes: tuple[int, ...]


@dataclass(frozen=True, kw_only=True)
class GetAppointment(Query):
    """One appointment, or None; ``provider_id`` set limits it to that provider's."""

    appointment_id: uuid.UUID
    provider_id: uuid.UUID | None = None


@dataclass(frozen=True, kw_only=True)
class ListAppointments(Query):
    """A page in (start, id) order of appointments overlapping ``[start, end)``, filtered.

    ``ended_by`` keeps those ending at or before it; ``newest_first`` reverses the order
    (``after`` is then the key the page continues below).
    """

    limit: int
    after: tuple[datetime, uuid.UUID] | None = None
    provider_id: uuid.UUID | None = None
    patient_id: uuid.UUID | None = None
    status: AppointmentStatus | None = None
    start: datetime | None = None
    end: datetime | None = None
    ended_by: datetime | None = None
    newest_first: bool = False


@dataclass(frozen=True, kw_only=True)
class BusyPeriods(Query):
    """Active appointments of ``provider_ids`` overlapping ``[start, end)``, in start order.

    The schedule domain's question when it computes availability or a schedule view.
    """

    provider_ids: tuple[uuid.UUID, ...]
    start: datetime
    end: datetime


@dataclass(frozen=True, kw_only=True)
class BusyTimes(Query):
    """When each of ``provider_ids`` is held by active appointments in ``[start, end)``.

    Answers ``{provider_id: [(start, end), ...]}`` sorted by start, without the
    appointments' ids: the cheap form availability needs for many providers at once.
    """

    provider_ids: tuple[uuid.UUID, ...]
    start: datetime
    end: datetime


@dataclass(frozen=True)
class BusyPeriod:
    """One active appointment as a stretch of a provider's time."""

    appointment_id: uuid.UUID
    provider_id: uuid.UUID
    start: datetime
    end: datetime
    status: str


@dataclass(frozen=True, kw_only=True)
class AppointmentPeriods(Query):
    """Every appointment of ``provider_ids`` overlapping ``[start, end)``, any status.

    For reports: answers ``{provider_id: [AppointmentSpan, ...]}`` (every provider asked
    is a key), sorted by start; one statement whatever the providers.
    """

    provider_ids: tuple[uuid.UUID, ...]
    start: datetime
    end: datetime


class AppointmentSpan(NamedTuple):
    """One appointment as a report counts it: when, and the status it has now."""

    start: datetime
    end: datetime
    status: AppointmentStatus


@dataclass(frozen=True)
class AppointmentView:
    """An appointment as queries answer it; the display names are filled by the asker."""

    id: uuid.UUID
    provider_id: uuid.UUID
    patient_id: uuid.UUID
    start: datetime
    end: datetime
    status: str
    reason: str | None
    cancel_reason: str | None
    created_by_key_id: uuid.UUID | None
    updated_by_key_id: uuid.UUID | None
    version: int
    created_at: datetime
    updated_at: datetime
    provider_name: str | None = None
    patient_name: str | None = None


@dataclass(frozen=True, kw_only=True)
class ProviderHasPatient(Query):
    """Whether the provider has or had an appointment (any status) with the patient.

    What a provider key may see of the patient domain depends on it: only its own
    patients' records.
    """

    provider_id: uuid.UUID
    patient_id: uuid.UUID


@dataclass(frozen=True, kw_only=True)
class GetAppointments(Query):
    """Several appointments at once (unknown ids are left out), in id order."""

    ids: tuple[uuid.UUID, ...]


class ProviderWindow(NamedTuple):
    """A provider and a stretch of time, asked about together."""

    provider_id: uuid.UUID
    start: datetime
    end: datetime


@dataclass(frozen=True, kw_only=True)
class AppointmentSpansIn(Query):
    """Every appointment, any status, overlapping one of ``windows`` of its provider.

    For read models that recompute scattered provider days: answers ``{provider_id:
    [AppointmentSpan, ...]}`` (every provider named a key), by start, each appointment
    once however many windows it overlaps; one statement whatever the windows.
    """

    windows: tuple[ProviderWindow, ...]


@dataclass(frozen=True, kw_only=True)
class AppointmentsInWindows(Query):
    """Appointments in one of ``statuses`` overlapping any of ``windows`` (each a provider's
    ``[start, end)``), each once, in provider and start order (reconciliation's question)."""

    windows: tuple[ProviderWindow, ...]
    statuses: tuple[AppointmentStatus, ...]


@dataclass(frozen=True, kw_only=True)
class AppointmentIds(Query):
    """The ids of the asking tenant's appointments after ``after``, in id order (a page).

    For read models that recompute every appointment (a rebuild walks them all).
    """

    after: uuid.UUID | None = None
    limit: int


@dataclass(frozen=True, kw_only=True)
class PatientVisitDigests(Query):
    """What patient summaries are made of, for many patients at once.

    Answers ``{patient_id: VisitDigest}`` for every patient asked (empty digests for
    those without appointments), in a fixed few statements whatever their number.
    """

    patient_ids: tuple[uuid.UUID, ...]
    since: datetime


@dataclass(frozen=True)
class VisitDigest:
    """One patient's finished visits.

    ``last_visit``: the completed one with the latest start; ``cancelled_starts`` and
    ``no_show_starts``: starts of the cancelled / no-show appointments starting at or
    after ``since`` (later ones included: an asker filters by its own moment).
    """

    last_visit: AppointmentView | None = None
    cancelled_starts: tuple[datetime, ...] = ()
    no_show_starts: tuple[datetime, ...] = ()


@dataclass(frozen=True, kw_only=True)
class GetPatientSummary(Query):
    """A patient's summary from its read model, with the read models' freshness."""

    patient_id: uuid.UUID


@dataclass(frozen=True)
class PatientSummary:
    """The answer to GetPatientSummary, as of ``freshness.now``.

    ``patient`` is None when the read model has no row for the patient (unknown, or not
    applied yet: ``freshness`` tells which may be the case).
    """

    freshness: Freshness
    patient: PatientView | None = None
    next_appointment: AppointmentView | None = None
    upcoming_count: int = 0
    last_visit: AppointmentView | None = None
    cancellations: int = 0
    no_shows: int = 0
    since: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class GetDaySheet(Query):
    """One local date's appointments in (start, id) order, a page, from the read model.

    ``provider_ids``, ``specialty`` and ``status`` narrow it; ``after`` is the
    (start, id) of the last row of the previous page.
    """

    day: date
    provider_ids: tuple[uuid.UUID, ...] = ()
    specialty: str | None = None
    status: AppointmentStatus | None = None
    limit: int
    after: tuple[datetime, uuid.UUID] | None = None


@dataclass(frozen=True)
class DaySheetPatient:
    """The patient of a day-sheet line, from its summary (None parts: not applied yet)."""

    id: uuid.UUID
    name: str | None
    mrn: str | None
    birth_date: date | None
    age: int | None
    last_visit: datetime | None
    cancellations: int
    no_shows: int


@dataclass(frozen=True)
class DaySheetLine:
    """One appointment of a day sheet."""

    id: uuid.UUID
    start: datetime
    end: datetime
    status: str
    reason: str | None
    provider_id: uuid.UUID
    provider_name: str
    specialty: str
    timezone: str
    version: int
    patient: DaySheetPatient


@dataclass(frozen=True)
class DaySheetPage:
    """The answer to GetDaySheet: up to ``limit + 1`` lines (one more says more follow)."""

    lines: list[DaySheetLine]
    freshness: Freshness


def schedule_facts(items: Any) -> tuple[tuple[Span, ...], tuple[Span, ...]]:
    """(working, leave) spans of a schedule view's items, as CreateAppointment wants them."""
    def spans(kind: str) -> tuple[Span, ...]:
        return tuple((item.start, item.end) for item in items if item.kind == kind)

    return spans("working"), spans("leave")


@dataclass(frozen=True, kw_only=True)
class VisitFigures(Query):
    """The day sheet's appointments counted per period of local dates (ISO weeks from
    Monday, or months) from ``first`` to ``last``, per specialty and for the clinic.

    A cancellation is late when made less than ``late_cancellation`` before the start.
    A patient is seen on a checked-in or completed visit, and new in the period of
    their first such visit (in the clinic; per specialty, in that specialty).
    """

    granularity: str  # "week" or "month"
    first: date
    last: date
    late_cancellation: timedelta


@dataclass(frozen=True)
class PeriodVisits:
    """One period's appointments of a specialty (None: the whole clinic)."""

    period_start: date
    specialty: str | None
    appointments: int
    cancellations: int
    late_cancellations: int
    no_shows: int
    median_lead_minutes: float | None  # booking to start
    patients_seen: int
    new_patients: int

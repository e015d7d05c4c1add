"""The schedule domain's public face: its commands, queries, events and views.

Working hours are weekly rules in the provider's IANA zone; a date override replaces
one local date's rules (or closes it); approved leave requests block time. The
appointment domain reacts to ``leave.approved`` (its ``start``/``end`` say which
appointments it overlaps).
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, ClassVar

from vitalbridge.messaging.messages import Command, Event, Query
from vitalbridge.schedule.calendar import WeeklyRule


class LeaveStatus(enum.StrEnum):
    """Where a leave request stands."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class ProviderState(enum.StrEnum):
    """What the provider domain answered of the provider a schedule command is for.

    The edge asks (a handler touches its own domain's tables only); the handler refuses,
    so that the refusal is audited and kept for the Idempotency-Key like any other.
    """

    ACTIVE = "active"
    INACTIVE = "inactive"
    UNKNOWN = "unknown"


def clock_text(value: time) -> str:
    """A wall-clock time as ``HH:MM``; ``time.max`` (end of the local day) is ``24:00``."""
    return "24:00" if value == time.max else value.strftime("%H:%M")


def parse_clock(text: str) -> time:
    """The inverse of ``clock_text``."""
    return time.max if text == "24:00" else time.fromisoformat(text)


def interval_json(start: time, end: time) -> dict[str, str]:
    """One local interval as the API and events write it: ``{"start": "09:00", ...}``."""
    return {"start": clock_text(start), "end": clock_text(end)}


def rule_json(rule: WeeklyRule) -> dict[str, Any]:
    """One weekly rule as the API and events write it."""
    return {"weekday": rule.weekday, **interval_json(rule.start, rule.end)}


# Commands ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SetWorkingHours(Command):
    """Set a provider's weekly rules from ``effective_from`` on; ``timezone`` is resolved
    by the HTTP edge.

    The new version replaces every version starting on or after its start; earlier ones
    keep governing their dates. Without ``effective_from`` it starts today (in
    ``timezone``), or at the beginning of time when the provider had no hours yet.
    """

    target_field: ClassVar[str | None] = "provider_id"

    provider_id: uuid.UUID
    timezone: str
    rules: tuple[WeeklyRule, ...]
    effective_from: date | None = None
    expected_version: int | None = None
    provider_state: ProviderState = ProviderState.ACTIVE


@dataclass(frozen=True, kw_only=True)
class SetDateOverride(Command):
    """Give one local date its own intervals; no intervals means the day is closed."""

    target_field: ClassVar[str | None] = "provider_id"

    provider_id: uuid.UUID
    day: date
    intervals: tuple[tuple[time, time], ...]
    expected_version: int | None = None
    provider_state: ProviderState = ProviderState.ACTIVE


@dataclass(frozen=True, kw_only=True)
class RemoveDateOverride(Command):
    """Let a date follow the weekly rules again."""

    target_field: ClassVar[str | None] = "provider_id"

    provider_id: uuid.UUID
    day: date
    provider_state: ProviderState = ProviderState.ACTIVE


@dataclass(frozen=True, kw_only=True)
class SubmitLeaveRequest(Command):
    """Ask for time off ``[start, end)`` (aware datetimes); it starts pending."""

    provider_id: uuid.UUID
    start: datetime
    end: datetime
    reason: str
    provider_state: ProviderState = ProviderState.ACTIVE


@dataclass(frozen=True, kw_only=True)
class ApproveLeaveRequest(Command):
    """Approve a pending request (admin); the appointment domain reacts to the event."""

    target_field: ClassVar[str | None] = "leave_id"

    leave_id: uuid.UUID
    expected_version: int | None = None


@dataclass(frozen=True, kw_only=True)
class RejectLeaveRequest(Command):
    """Reject a pending request (admin)."""

    target_field: ClassVar[str | None] = "leave_id"

    leave_id: uuid.UUID
    expected_version: int | None = None


@dataclass(frozen=True, kw_only=True)
class CancelLeaveRequest(Command):
    """Withdraw a request: its provider's key while pending, an admin while not decided
    against (pending or approved)."""

    target_field: ClassVar[str | None] = "leave_id"

    leave_id: uuid.UUID
    expected_version: int | None = None


# Events -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class WorkingHoursSet(Event):
    """A provider's weekly rules were set from ``effective_from`` (None: from the
    beginning) on, until any later version; ``rules`` holds all of them."""

    type: ClassVar[str] = "schedule.working_hours_set"
    aggregate_type: ClassVar[str] = "schedule"

    timezone: str
    effective_from: date | None
    rules: tuple[dict[str, Any], ...]


@dataclass(frozen=True, kw_only=True)
class DateOverrideSet(Event):
    """A local date got its own intervals (none: closed)."""

    type: ClassVar[str] = "schedule.override_set"
    aggregate_type: ClassVar[str] = "schedule"

    day: date
    closed: bool
    intervals: tuple[dict[str, str], ...]


@dataclass(frozen=True, kw_only=True)
class DateOverrideRemoved(Event):
    """A local date follows the weekly rules again."""

    type: ClassVar[str] = "schedule.override_removed"
    aggregate_type: ClassVar[str] = "schedule"

    day: date


@dataclass(frozen=True, kw_only=True)
class _LeaveEvent(Event):
    aggregate_type: ClassVar[str] = "leave_request"

    provider_id: uuid.UUID
    start: datetime
    end: datetime


@dataclass(frozen=True, kw_only=True)
class LeaveRequested(_LeaveEvent):
    """A leave request was submitted."""

    type: ClassVar[str] = "leave.requested"
    reason: str


@dataclass(frozen=True, kw_only=True)
class LeaveApproved(_LeaveEvent):
    """Leave was approved: the provider is unavailable from ``start`` to ``end``."""

    type: ClassVar[str] = "leave.approved"


@dataclass(frozen=True, kw_only=True)
class LeaveRejected(_LeaveEvent):
    """A leave request was rejected."""

    type: ClassVar[str] = "leave.rejected"


@dataclass(frozen=True, kw_only=True)
class LeaveCancelled(_LeaveEvent):
    """A leave request was withdrawn; ``was`` is the status it had (pending or approved)."""

    type: ClassVar[str] = "leave.cancelled"
    was: str


# Queries and their answers ---------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class GetWorkingHours(Query):
    """A provider's weekly rules in force today and the planned ones, or None when never
    set."""

    provider_id: uuid.UUID


@dataclass(frozen=True, kw_only=True)
class GetLeaveRequest(Query):
    """One leave request, or None; ``provider_id`` set limits it to that provider's."""

    leave_id: uuid.UUID
    provider_id: uuid.UUID | None = None


@dataclass(frozen=True, kw_only=True)
class ListLeaveRequests(Query):
    """A page of leave requests in (created_at, id) order, filtered."""

    limit: int
    after: tuple[datetime, uuid.UUID] | None = None
    provider_id: uuid.UUID | None = None
    status: LeaveStatus | None = None


@dataclass(frozen=True)
class BookedPeriod:
    """An active appointment, as the appointment domain answered it to the asker."""

    appointment_id: uuid.UUID
    start: datetime
    end: datetime
    status: str


@dataclass(frozen=True, kw_only=True)
class ViewSchedule(Query):
    """Working periods, approved leave and ``appointments`` of ``[start, end)``, in time order.

    ``default_timezone`` (the provider's) applies when no working hours were set;
    ``appointments`` are the provider's active ones, asked of the appointment domain.
    """

    provider_id: uuid.UUID
    start: datetime
    end: datetime
    default_timezone: str
    appointments: tuple[BookedPeriod, ...] = ()


@dataclass(frozen=True)
class ProviderFacts:
    """What availability needs to know of a provider beyond the schedule's own tables."""

    provider_id: uuid.UUID
    default_timezone: str
    busy: tuple[tuple[datetime, datetime], ...] = ()
    active: bool = True  # a deactivated provider has no free slots


@dataclass(frozen=True, kw_only=True)
class GetAvailability(Query):
    """Free starts of ``duration`` on the local ``step`` grid, per provider, in the window.

    Slots lie inside working periods (overrides win), outside approved leave and ``busy``
    periods, at or after ``not_before`` (now plus the tenant's minimum notice).
    """

    providers: tuple[ProviderFacts, ...]
    start: datetime
    end: datetime
    duration: timedelta
    step: timedelta
    not_before: datetime


@dataclass(frozen=True)
class WorkingHoursVersionView:
    """One version of the weekly rules: it governs local dates from ``effective_from``
    (None: from the beginning) until the next version's."""

    effective_from: date | None
    timezone: str
    rules: list[dict[str, Any]]


@dataclass(frozen=True)
class WorkingHoursView:
    """A provider's weekly rules in force today (else its first ones, when all of them
    start later), and the versions planned after them, in date order.

    ``version`` counts the PUTs (the ETag); the stamps are those of the first and last.
    """

    provider_id: uuid.UUID
    timezone: str
    effective_from: date | None
    rules: list[dict[str, Any]]
    version: int
    created_at: datetime
    updated_at: datetime
    upcoming: tuple[WorkingHoursVersionView, ...] = ()


@dataclass(frozen=True)
class LeaveRequestView:
    """A leave request as queries answer it."""

    id: uuid.UUID
    provider_id: uuid.UUID
    start: datetime
    end: datetime
    reason: str
    status: str
    requested_by_key_id: uuid.UUID | None
    decided_by_key_id: uuid.UUID | None
    version: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ScheduleItem:
    """One stretch of a schedule; ``local_*`` are the same instants in the zone of the
    working hours in force at its start (the provider's own zone when none were set)."""

    kind: str
    start: datetime
    end: datetime
    local_start: datetime
    local_end: datetime
    leave_request_id: uuid.UUID | None = None
    appointment_id: uuid.UUID | None = None
    status: str | None = None


@dataclass(frozen=True)
class ScheduleView:
    """A provider's schedule over a window; ``timezone``: that in force at its start."""

    provider_id: uuid.UUID
    timezone: str
    start: datetime
    end: datetime
    items: list[ScheduleItem]


@dataclass(frozen=True)
class ProviderSlots:
    """One provider's free start times (UTC, sorted) and its zone."""

    provider_id: uuid.UUID
    timezone: str
    slots: list[datetime]


@dataclass(frozen=True)
class Availability:
    """The answer of GetAvailability, one entry per provider asked, in the order asked."""

    start: datetime
    end: datetime
    duration: timedelta
    step: timedelta
    not_before: datetime
    providers: list[ProviderSlots]


@dataclass(frozen=True)
class ProviderZone:
    """A provider asked about, with its own zone (for hours written in no other zone)."""

    provider_id: uuid.UUID
    default_timezone: str


@dataclass(frozen=True, kw_only=True)
class WorkingPeriods(Query):
    """Each provider's working time in ``[start, end)``, for reports: one statement.

    Working time is the weekly rules (date overrides win on their dates) minus approved
    leave, as availability computes it. ``zone_on``: the local date whose working hours'
    zone each answer names (default: the window's first UTC date).
    """

    providers: tuple[ProviderZone, ...]
    start: datetime
    end: datetime
    zone_on: date | None = None


@dataclass(frozen=True, kw_only=True)
class HoursZones(Query):
    """The zones every stored version of each provider's working hours is written in.

    Answers ``{provider_id: (zone, ...)}``, sorted, every provider asked a key (an empty
    tuple without hours): the zones a report may split that provider's days in.
    """

    provider_ids: tuple[uuid.UUID, ...]


@dataclass(frozen=True, kw_only=True)
class HoursZoneOn(Query):
    """The zone each provider's report over dates up to ``day`` splits its days in.

    The zone of the working hours governing ``day``; with none by then, that of the
    first version starting within four days after it (as WorkingPeriods names it for a
    window ending with ``day``); else absent from the answer ``{provider_id: zone}``
    (the provider's own zone applies). One statement.
    """

    provider_ids: tuple[uuid.UUID, ...]
    day: date


@dataclass(frozen=True)
class WorkingTime:
    """The answer of WorkingPeriods for one provider, in the order asked.

    ``timezone`` is the zone its working hours on the asked date are written in (its own
    when none were set in the window); ``periods`` are UTC ``(start, end)`` pairs, sorted,
    disjoint, inside the window.
    """

    provider_id: uuid.UUID
    timezone: str
    periods: tuple[tuple[datetime, datetime], ...]

"""Query handlers of the schedule domain (read-only; row-level security scopes the tenant)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BindParameter,
    CompoundSelect,
    Date,
    DateTime,
    Text,
    Uuid,
    bindparam,
    literal,
    null,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.dialects.postgresql import JSONB

from vitalbridge.db import table_of
from vitalbridge.messaging.bus import ReadContext
from vitalbridge.schedule.calendar import (
    ONE_DAY,
    DayOverride,
    Period,
    WeeklyRule,
    free_slots,
    subtract,
    working_periods,
)
from vitalbridge.schedule.messages import (
    Availability,
    GetAvailability,
    GetLeaveRequest,
    GetWorkingHours,
    LeaveRequestView,
    LeaveStatus,
    ListLeaveRequests,
    ProviderSlots,
    ScheduleItem,
    ScheduleView,
    ViewSchedule,
    WorkingHoursView,
    WorkingPeriods,
    WorkingTime,
    parse_clock,
)
from vitalbridge.schedule.model import LeaveRequest, ScheduleOverride, WorkingHours


def get_working_hours(query: GetWorkingHours, ctx: ReadContext) -> WorkingHoursView | None:
    """A provider's weekly rules; None when they were never set (or another tenant's)."""
    row = ctx.session.scalar(select(WorkingHours).where(
        WorkingHours.provider_id == query.provider_id))
    if row is None:
        return None
    return WorkingHoursView(provider_id=row.provider_id, timezone=row.timezone,
                            effective_from=row.effective_from, rules=row.rules,
                            version=row.version, created_at=row.created_at,
                            updated_at=row.updated_at)


def get_leave_request(query: GetLeaveRequest, ctx: ReadContext) -> LeaveRequestView | None:
    """One leave request by id (limited to one provider's when ``provider_id`` is set)."""
    stmt = select(LeaveRequest).where(LeaveRequest.id == query.leave_id)
    if query.provider_id is not None:
        stmt = stmt.where(LeaveRequest.provider_id == query.provider_id)
    row = ctx.session.scalar(stmt)
    return _leave_view(row) if row else None


def list_leave_requests(query: ListLeaveRequests, ctx: ReadContext) -> list[LeaveRequestView]:
    """A page of leave requests (one more row than asked, to tell whether more follow)."""
    stmt = select(LeaveRequest).order_by(LeaveRequest.created_at, LeaveRequest.id)
    if query.provider_id is not None:
        stmt = stmt.where(LeaveRequest.provider_id == query.provider_id)
    if query.status is not None:
        stmt = stmt.where(LeaveRequest.status == query.status.value)
    if query.after:
        stmt = stmt.where(tuple_(LeaveRequest.created_at, LeaveRequest.id)
                          > tuple_(*query.after))
    return [_leave_view(row) for row in ctx.session.scalars(stmt.limit(query.limit + 1))]


def view_schedule(query: ViewSchedule, ctx: ReadContext) -> ScheduleView:
    """Working periods, approved leave and the given appointments, in time order."""
    window = Period(query.start, query.end)
    calendar = _calendars(ctx, (query.provider_id,), window)[query.provider_id]
    zone = ZoneInfo(calendar.timezone or query.default_timezone)
    items = [_item("working", p.start, p.end, zone) for p in calendar.working(zone, window)]
    items += [_item("leave", p.start, p.end, zone, leave_request_id=leave_id)
              for leave_id, p in calendar.leave]
    items += [_item("appointment", a.start, a.end, zone, appointment_id=a.appointment_id,
                    status=a.status) for a in query.appointments]
    items.sort(key=lambda item: (item.start, item.end, item.kind))
    return ScheduleView(provider_id=query.provider_id, timezone=zone.key, start=window.start,
                        end=window.end, items=items)


def get_availability(query: GetAvailability, ctx: ReadContext) -> Availability:
    """Free slots of every provider asked: three statements, whatever the providers or days."""
    window = Period(query.start, query.end)
    calendars = _calendars(ctx, tuple(p.provider_id for p in query.providers), window)
    answers = []
    for facts in query.providers:
        calendar = calendars[facts.provider_id]
        zone = ZoneInfo(calendar.timezone or facts.default_timezone)
        blocked = [period for _, period in calendar.leave]
        blocked += [Period(start, end) for start, end in facts.busy]
        working = calendar.working(zone, window) if facts.active else []
        slots = free_slots(working, blocked, duration=query.duration, step=query.step,
                           zone=zone, not_before=query.not_before)
        answers.append(ProviderSlots(provider_id=facts.provider_id, timezone=zone.key,
                                     slots=slots))
    return Availability(start=window.start, end=window.end, duration=query.duration,
                        step=query.step, not_before=query.not_before, providers=answers)


def working_time(query: WorkingPeriods, ctx: ReadContext) -> list[WorkingTime]:
    """Working periods minus approved leave of every provider asked: one statement."""
    window = Period(query.start, query.end)
    calendars = _calendars(ctx, tuple(p.provider_id for p in query.providers), window)
    answers = []
    for asked in query.providers:
        calendar = calendars[asked.provider_id]
        zone = ZoneInfo(calendar.timezone or asked.default_timezone)
        worked = subtract(calendar.working(zone, window), [p for _, p in calendar.leave])
        answers.append(WorkingTime(provider_id=asked.provider_id, timezone=zone.key,
                                   periods=tuple((p.start, p.end) for p in worked)))
    return answers


@dataclass(frozen=True)
class _WeeklyHours:
    """A provider's weekly rules as stored: local ``HH:MM`` rules in one zone."""

    timezone: str
    effective_from: date | None
    rules: list[dict[str, Any]]


@dataclass
class _Calendar:
    """One provider's schedule rows that matter for a window."""

    hours: _WeeklyHours | None = None
    overrides: list[DayOverride] = field(default_factory=list)
    leave: list[tuple[uuid.UUID, Period]] = field(default_factory=list)

    @property
    def timezone(self) -> str | None:
        """The zone its working hours are written in, if any were set."""
        return self.hours.timezone if self.hours else None

    def working(self, zone: ZoneInfo, window: Period) -> list[Period]:
        """UTC working periods in the window (overrides apply even without weekly rules)."""
        rules = [WeeklyRule(r["weekday"], parse_clock(r["start"]), parse_clock(r["end"]))
                 for r in (self.hours.rules if self.hours else [])]
        effective_from = self.hours.effective_from if self.hours else None
        return working_periods(rules, self.overrides, zone, window,
                               effective_from=effective_from)


def _calendars(ctx: ReadContext, provider_ids: tuple[uuid.UUID, ...],
               window: Period) -> dict[uuid.UUID, _Calendar]:
    """Working hours, overrides and approved leave of all the providers, in one statement."""
    calendars = {provider_id: _Calendar() for provider_id in provider_ids}
    # A local date is within a day of the UTC date; working_periods looks one day further.
    first, last = window.start.date() - 2 * ONE_DAY, window.end.date() + 2 * ONE_DAY
    rows = ctx.session.execute(_CALENDAR_ROWS, {
        "providers": provider_ids, "first": first, "last": last,
        "start": window.start, "end": window.end, "approved": LeaveStatus.APPROVED.value})
    for kind, provider_id, zone, day, starts, ends, leave_id, document in rows:
        calendar = calendars[provider_id]
        if kind == "hours":
            calendar.hours = _WeeklyHours(zone, day, document)
        elif kind == "override":
            calendar.overrides.append(_override(day, document))
        else:
            calendar.leave.append((leave_id, Period(starts, ends)))
    return calendars


def _calendar_rows() -> CompoundSelect:
    # The three kinds of rows as one UNION ALL of one shape: (kind, provider, zone, day,
    # start, end, leave id, JSON document). A single round trip and plain rows instead
    # of three statements loading ORM objects: booking asks this on every request.
    hours, overrides, leave = (table_of(WorkingHours), table_of(ScheduleOverride),
                               table_of(LeaveRequest))
    no_zone, no_day = null().cast(Text()), null().cast(Date())
    no_time, no_id, no_document = (null().cast(DateTime(timezone=True)), null().cast(Uuid()),
                                   null().cast(JSONB()))
    providers: BindParameter[uuid.UUID] = bindparam("providers", expanding=True)
    return union_all(
        select(literal("hours"), hours.c.provider_id, hours.c.timezone,
               hours.c.effective_from, no_time, no_time, no_id, hours.c.rules)
        .where(hours.c.provider_id.in_(providers)),
        select(literal("override"), overrides.c.provider_id, no_zone, overrides.c.day,
               no_time, no_time, no_id, overrides.c.intervals)
        .where(overrides.c.provider_id.in_(providers),
               overrides.c.day.between(bindparam("first"), bindparam("last"))),
        select(literal("leave"), leave.c.provider_id, no_zone, no_day, leave.c.starts_at,
               leave.c.ends_at, leave.c.id, no_document)
        .where(leave.c.provider_id.in_(providers), leave.c.status == bindparam("approved"),
               leave.c.starts_at < bindparam("end"), leave.c.ends_at > bindparam("start")),
    )


_CALENDAR_ROWS = _calendar_rows()


def _override(day: date, intervals: list[dict[str, str]]) -> DayOverride:
    return DayOverride(day, tuple((parse_clock(i["start"]), parse_clock(i["end"]))
                                  for i in intervals))


def _item(kind: str, start: datetime, end: datetime, zone: ZoneInfo,
          **ids: Any) -> ScheduleItem:
    return ScheduleItem(kind=kind, start=start.astimezone(UTC), end=end.astimezone(UTC),
                        local_start=start.astimezone(zone), local_end=end.astimezone(zone),
                        **ids)


def _leave_view(row: LeaveRequest) -> LeaveRequestView:
    return LeaveRequestView(
        id=row.id, provider_id=row.provider_id, start=row.starts_at, end=row.ends_at,
        reason=row.reason, status=row.status, requested_by_key_id=row.requested_by_key_id,
        decided_by_key_id=row.decided_by_key_id, version=row.version,
        created_at=row.created_at, updated_at=row.updated_at)


QUERY_HANDLERS = {
    GetWorkingHours: get_working_hours,
    GetLeaveRequest: get_leave_request,
    ListLeaveRequests: list_leave_requests,
    ViewSchedule: view_schedule,
    GetAvailability: get_availability,
    WorkingPeriods: working_time,
}

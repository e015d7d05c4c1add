"""Query handlers of the schedule domain (read-only; row-level security scopes the tenant)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, tuple_

from vitalbridge.messaging.bus import ReadContext
from vitalbridge.schedule.calendar import (
    ONE_DAY,
    DayOverride,
    Period,
    WeeklyRule,
    free_slots,
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


@dataclass
class _Calendar:
    """One provider's schedule rows that matter for a window."""

    hours: WorkingHours | None = None
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
    """Working hours, overrides and approved leave of all the providers, one statement each."""
    calendars = {provider_id: _Calendar() for provider_id in provider_ids}
    for hours in ctx.session.scalars(select(WorkingHours).where(
            WorkingHours.provider_id.in_(provider_ids))):
        calendars[hours.provider_id].hours = hours
    # A local date is within a day of the UTC date; working_periods looks one day further.
    first, last = window.start.date() - 2 * ONE_DAY, window.end.date() + 2 * ONE_DAY
    for row in ctx.session.scalars(select(ScheduleOverride).where(
            ScheduleOverride.provider_id.in_(provider_ids),
            ScheduleOverride.day.between(first, last))):
        calendars[row.provider_id].overrides.append(_override(row))
    for leave in ctx.session.scalars(select(LeaveRequest).where(
            LeaveRequest.provider_id.in_(provider_ids),
            LeaveRequest.status == LeaveStatus.APPROVED.value,
            LeaveRequest.starts_at < window.end, LeaveRequest.ends_at > window.start)):
        calendars[leave.provider_id].leave.append(
            (leave.id, Period(leave.starts_at, leave.ends_at)))
    return calendars


def _override(row: ScheduleOverride) -> DayOverride:
    return DayOverride(row.day, tuple((parse_clock(i["start"]), parse_clock(i["end"]))
                                      for i in row.intervals))


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
}

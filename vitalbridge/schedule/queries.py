"""Query handlers of the schedule domain (read-only; row-level security scopes the tenant)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, tuple_

from vitalbridge.messaging.bus import ReadContext
from vitalbridge.schedule.calendar import DayOverride, Period, WeeklyRule, working_periods
from vitalbridge.schedule.messages import (
    GetLeaveRequest,
    GetWorkingHours,
    LeaveRequestView,
    LeaveStatus,
    ListLeaveRequests,
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
    """Working periods and approved leave touching the window, in time order."""
    hours = ctx.session.scalar(select(WorkingHours).where(
        WorkingHours.provider_id == query.provider_id))
    zone = ZoneInfo(hours.timezone if hours else query.default_timezone)
    window = Period(query.start.astimezone(UTC), query.end.astimezone(UTC))
    items = [_item("working", p.start, p.end, zone)
             for p in _working(ctx, query, hours, zone, window)]
    items += [_item("leave", row.starts_at, row.ends_at, zone, row.id)
              for row in _approved_leave(ctx, query)]
    items.sort(key=lambda item: (item.start, item.end, item.kind))
    return ScheduleView(provider_id=query.provider_id, timezone=zone.key, start=window.start,
                        end=window.end, items=items)


def _working(ctx: ReadContext, query: ViewSchedule, hours: WorkingHours | None,
             zone: ZoneInfo, window: Period) -> list[Period]:
    if hours is None:
        return []
    rules = [WeeklyRule(r["weekday"], parse_clock(r["start"]), parse_clock(r["end"]))
             for r in hours.rules]
    # A local date may straddle the UTC window's edges: read one extra day each side.
    first = window.start.astimezone(zone).date() - timedelta(days=1)
    last = window.end.astimezone(zone).date() + timedelta(days=1)
    overrides = [_override(row) for row in ctx.session.scalars(select(ScheduleOverride).where(
        ScheduleOverride.provider_id == query.provider_id,
        ScheduleOverride.day.between(first, last)))]
    return working_periods(rules, overrides, zone.key, window,
                           effective_from=hours.effective_from)


def _approved_leave(ctx: ReadContext, query: ViewSchedule) -> Any:
    return ctx.session.scalars(select(LeaveRequest).where(
        LeaveRequest.provider_id == query.provider_id,
        LeaveRequest.status == LeaveStatus.APPROVED.value,
        LeaveRequest.starts_at < query.end, LeaveRequest.ends_at > query.start))


def _override(row: ScheduleOverride) -> DayOverride:
    return DayOverride(row.day, tuple((parse_clock(i["start"]), parse_clock(i["end"]))
                                      for i in row.intervals))


def _item(kind: str, start: datetime, end: datetime, zone: ZoneInfo,
          leave_id: Any = None) -> ScheduleItem:
    return ScheduleItem(kind=kind, start=start.astimezone(UTC), end=end.astimezone(UTC),
                        local_start=start.astimezone(zone), local_end=end.astimezone(zone),
                        leave_request_id=leave_id)


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
}

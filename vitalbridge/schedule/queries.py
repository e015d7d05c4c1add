"""Query handlers of the schedule domain (read-only; row-level security scopes the tenant)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Date,
    DateTime,
    Table,
    Text,
    Uuid,
    any_,
    bindparam,
    func,
    literal,
    null,
    select,
    text,
    tuple_,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from vitalbridge.db import table_of
from vitalbridge.driver_sql import DriverStatement
from vitalbridge.messaging.bus import ReadContext
from vitalbridge.schedule.calendar import (
    ONE_DAY,
    DayOverride,
    HoursVersion,
    Owned,
    Period,
    WeeklyRule,
    governing,
    merge,
    owned_periods,
    owner_zone,
    subtract,
    versioned_free_slots,
    versioned_working_periods,
    zone_at,
)
from vitalbridge.schedule.messages import (
    Availability,
    GetAvailability,
    GetLeaveRequest,
    GetWorkingHours,
    HoursZoneOn,
    HoursZones,
    LeaveRequestView,
    LeaveStatus,
    ListLeaveRequests,
    ProviderSlots,
    ScheduleItem,
    ScheduleView,
    ViewSchedule,
    WorkingHoursVersionView,
    WorkingHoursView,
    WorkingPeriods,
    WorkingTime,
    parse_clock,
)
from vitalbridge.schedule.model import (
    FROM_THE_BEGINNING,
    LeaveRequest,
    ScheduleOverride,
    WorkingHours,
    WorkingHoursVersion,
)


def get_working_hours(query: GetWorkingHours, ctx: ReadContext) -> WorkingHoursView | None:
    """The version in force today and the later ones; None when never set (or another
    tenant's)."""
    head = ctx.session.scalar(select(WorkingHours).where(
        WorkingHours.provider_id == query.provider_id))
    if head is None:
        return None
    rows = ctx.session.scalars(select(WorkingHoursVersion).where(
        WorkingHoursVersion.provider_id == query.provider_id)
        .order_by(WorkingHoursVersion.effective_from)).all()
    versions = [_version_view(row) for row in rows]
    current = _in_force(versions, datetime.now(UTC))
    return WorkingHoursView(provider_id=head.provider_id, timezone=current.timezone,
                            effective_from=current.effective_from, rules=current.rules,
                            version=head.version, created_at=head.created_at,
                            updated_at=head.updated_at,
                            upcoming=tuple(versions[versions.index(current) + 1:]))


def _in_force(versions: list[WorkingHoursVersionView], now: datetime) -> WorkingHoursVersionView:
    """The version governing today (each version's today in its own zone), else the first."""
    current = versions[0]
    for version in versions[1:]:
        assert version.effective_from is not None  # only the first starts at the beginning
        if version.effective_from > now.astimezone(ZoneInfo(version.timezone)).date():
            break
        current = version
    return current


def _version_view(row: WorkingHoursVersion) -> WorkingHoursVersionView:
    return WorkingHoursVersionView(effective_from=_start(row.effective_from),
                                   timezone=row.timezone, rules=row.rules)


def _start(stored: date) -> date | None:
    return None if stored == FROM_THE_BEGINNING else stored


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
    default = ZoneInfo(query.default_timezone)

    owned = calendar.owned(default, window)

    def item(kind: str, start: datetime, end: datetime, **ids: Any) -> ScheduleItem:
        # Local times in the zone whose date the item starts on: the zone of the hours
        # that made a working period, else the zone in force then (hours may move zone).
        zone = owner_zone(owned, start) or calendar.zone_at(default, start)
        return _item(kind, start, end, zone, **ids)

    working = merge(p for _, periods in owned for p in periods)
    items = [item("working", p.start, p.end) for p in working]
    items += [item("leave", p.start, p.end, leave_request_id=leave_id)
              for leave_id, p in calendar.leave]
    items += [item("appointment", a.start, a.end, appointment_id=a.appointment_id,
                   status=a.status) for a in query.appointments]
    items.sort(key=lambda item: (item.start, item.end, item.kind))
    zone = calendar.zone_at(default, window.start)
    return ScheduleView(provider_id=query.provider_id, timezone=zone.key, start=window.start,
                        end=window.end, items=items)


def get_availability(query: GetAvailability, ctx: ReadContext) -> Availability:
    """Free slots of every provider asked: three statements, whatever the providers or days."""
    window = Period(query.start, query.end)
    calendars = _calendars(ctx, tuple(p.provider_id for p in query.providers), window)
    answers = []
    for facts in query.providers:
        calendar = calendars[facts.provider_id]
        default = ZoneInfo(facts.default_timezone)
        zone = calendar.zone_at(default, window.start)
        blocked = [period for _, period in calendar.leave]
        blocked += [Period(start, end) for start, end in facts.busy]
        owned = calendar.owned(default, window) if facts.active else [(zone, [])]
        slots = versioned_free_slots(owned, blocked, duration=query.duration,
                                     step=query.step, not_before=query.not_before)
        answers.append(ProviderSlots(provider_id=facts.provider_id, timezone=zone.key,
                                     slots=slots))
    return Availability(start=window.start, end=window.end, duration=query.duration,
                        step=query.step, not_before=query.not_before, providers=answers)


def working_time(query: WorkingPeriods, ctx: ReadContext) -> list[WorkingTime]:
    """Working periods minus approved leave of every provider asked: one statement."""
    window = Period(query.start, query.end)
    calendars = _calendars(ctx, tuple(p.provider_id for p in query.providers), window)
    answers = []
    zone_on = query.zone_on or window.start.date()
    for asked in query.providers:
        calendar = calendars[asked.provider_id]
        default = ZoneInfo(asked.default_timezone)
        # Before the first version its zone holds, as it does for the overrides.
        hours = governing(calendar.versions, zone_on) or next(iter(calendar.versions), None)
        zone = hours.zone if hours else default
        worked = subtract(calendar.working(default, window), [p for _, p in calendar.leave])
        answers.append(WorkingTime(provider_id=asked.provider_id, timezone=zone.key,
                                   periods=tuple((p.start, p.end) for p in worked)))
    return answers


@dataclass
class _Calendar:
    """One provider's schedule rows that matter for a window."""

    versions: list[HoursVersion] = field(default_factory=list)  # in date order
    overrides: list[DayOverride] = field(default_factory=list)
    leave: list[tuple[uuid.UUID, Period]] = field(default_factory=list)

    def zone_at(self, default: ZoneInfo, instant: datetime) -> ZoneInfo:
        """The zone of the hours in force at ``instant`` (``default`` with none)."""
        return zone_at(self.versions, default, instant)

    def working(self, default: ZoneInfo, window: Period) -> list[Period]:
        """UTC working periods in the window (overrides apply even without weekly rules)."""
        return versioned_working_periods(self.versions, self.overrides, default, window)

    def owned(self, default: ZoneInfo, window: Period) -> Owned:
        """The working periods grouped by the zone whose local dates made them."""
        return owned_periods(self.versions, self.overrides, default, window)


def _calendars(ctx: ReadContext, provider_ids: tuple[uuid.UUID, ...],
               window: Period) -> dict[uuid.UUID, _Calendar]:
    """Working hours, overrides and approved leave of all the providers, in one statement."""
    calendars = {provider_id: _Calendar() for provider_id in provider_ids}
    # A local date is within a day of the UTC date; working_periods looks one day further.
    first, last = window.start.date() - 2 * ONE_DAY, window.end.date() + 2 * ONE_DAY
    rows = _CALENDAR_ROWS.rows(ctx.session, {
        "providers": list(provider_ids), "first": first, "last": last,
        "beginning": FROM_THE_BEGINNING, "start": window.start, "end": window.end,
        "approved": LeaveStatus.APPROVED.value}, named=False)
    for kind, provider_id, zone, day, starts, ends, leave_id, document in rows:
        calendar = calendars[provider_id]
        if kind == "hours":
            calendar.versions.append(_hours_version(zone, day, document))
        elif kind == "override":
            calendar.overrides.append(_override(day, document))
        else:
            calendar.leave.append((leave_id, Period(starts, ends)))
    for calendar in calendars.values():
        calendar.versions.sort(key=lambda v: v.effective_from or FROM_THE_BEGINNING)
    return calendars


def _calendar_rows() -> CompoundSelect:
    # The three kinds of rows as one UNION ALL of one shape: (kind, provider, zone, day,
    # start, end, leave id, JSON document). A single round trip and plain rows instead
    # of three statements loading ORM objects: booking asks this on every request, so it
    # goes through the driver (vitalbridge/driver_sql.py), the ids bound as one array.
    versions, overrides, leave = (table_of(WorkingHoursVersion), table_of(ScheduleOverride),
                                  table_of(LeaveRequest))
    no_zone, no_day = null().cast(Text()), null().cast(Date())
    no_time, no_id, no_document = (null().cast(DateTime(timezone=True)), null().cast(Uuid()),
                                   null().cast(JSONB()))
    providers = any_(bindparam("providers", type_=ARRAY(Uuid())))
    return union_all(
        select(literal("hours"), versions.c.provider_id, versions.c.timezone,
               versions.c.effective_from, no_time, no_time, no_id, versions.c.rules)
        .where(versions.c.provider_id == providers,
               versions.c.effective_from <= bindparam("last"),
               versions.c.effective_from >= _latest_start_by_first(versions)),
        select(literal("override"), overrides.c.provider_id, no_zone, overrides.c.day,
               no_time, no_time, no_id, overrides.c.intervals)
        .where(overrides.c.provider_id == providers,
               overrides.c.day.between(bindparam("first"), bindparam("last"))),
        select(literal("leave"), leave.c.provider_id, no_zone, no_day, leave.c.starts_at,
               leave.c.ends_at, leave.c.id, no_document)
        .where(leave.c.provider_id == providers, leave.c.status == bindparam("approved"),
               leave.c.starts_at < bindparam("end"), leave.c.ends_at > bindparam("start")),
    )


def _latest_start_by_first(versions: Table) -> ColumnElement[date]:
    # The version in force on the window's first date is the oldest one that matters:
    # older ones govern no date of the window. With none by then, all of them from the
    # beginning (the first one's zone also reads the overrides of earlier dates).
    earlier = versions.alias("earlier")
    latest = (select(func.max(earlier.c.effective_from))
              .where(earlier.c.tenant_id == versions.c.tenant_id,
                     earlier.c.provider_id == versions.c.provider_id,
                     earlier.c.effective_from <= bindparam("first"))
              .scalar_subquery())
    return func.coalesce(latest, bindparam("beginning"))


_CALENDAR_ROWS = DriverStatement.of(_calendar_rows())


def hours_zones(query: HoursZones, ctx: ReadContext) -> dict[uuid.UUID, tuple[str, ...]]:
    """The distinct zones of each provider's hours versions: one statement."""
    found: dict[uuid.UUID, tuple[str, ...]] = dict.fromkeys(query.provider_ids, ())
    if not query.provider_ids:
        return found
    rows = ctx.session.execute(
        select(WorkingHoursVersion.provider_id,
               func.array_agg(func.distinct(WorkingHoursVersion.timezone)))
        .where(WorkingHoursVersion.provider_id.in_(query.provider_ids))
        .group_by(WorkingHoursVersion.provider_id))
    for provider_id, zones in rows:
        found[provider_id] = tuple(sorted(zones))
    return found


def hours_zone_on(query: HoursZoneOn, ctx: ReadContext) -> dict[uuid.UUID, str]:
    """The governing version's zone, else the first one's near after ``day``."""
    if not query.provider_ids:
        return {}
    rows = ctx.session.execute(_ZONE_ON, {"providers": list(query.provider_ids),
                                          "day": query.day,
                                          "ahead": query.day + _ZONE_LOOKAHEAD})
    return {row.provider_id: row.timezone for row in rows}


# working_time reads the versions up to two days past its window's last UTC date, which
# for a report ending on ``day`` ends two days after it.
_ZONE_LOOKAHEAD = 4 * ONE_DAY
_ZONE_ON = text("""
SELECT DISTINCT ON (provider_id) provider_id, timezone
  FROM working_hours_versions
 WHERE provider_id = ANY(CAST(:providers AS uuid[])) AND effective_from <= :ahead
 ORDER BY provider_id, effective_from <= :day DESC,
          CASE WHEN effective_from <= :day THEN effective_from END DESC, effective_from
""")


def _hours_version(zone: str, start: date, rules: list[dict[str, Any]]) -> HoursVersion:
    return HoursVersion(_start(start), ZoneInfo(zone), tuple(
        WeeklyRule(r["weekday"], parse_clock(r["start"]), parse_clock(r["end"]))
        for r in rules))


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
    HoursZones: hours_zones,
    HoursZoneOn: hours_zone_on,
}

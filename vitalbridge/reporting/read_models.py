"""The daily provider figures: one row per provider, zone and local date, for reports.

An event names the provider dates it may change (an appointment's dates before and
after a move, a leave's, an override's, every date from a change of hours on), and
those dates are recomputed from the schedule, provider and appointment domains'
current answers, as the live report computes them (``utilization.daily_usage``). Order
and repetition of deliveries therefore never matter.

What a change of working hours touches is unbounded (every later date), so the figures
are kept for a rolling window of local dates around today (REPORT_WINDOW_PAST_DAYS and
REPORT_WINDOW_FUTURE_DAYS): an event's dates outside it are left alone, and a report
reaching outside the dates the rows hold (``provider_day_window``) is computed live.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from vitalbridge.appointment.messages import (
    APPOINTMENT_EVENTS,
    AppointmentRescheduled,
    AppointmentSpansIn,
    ProviderWindow,
)
from vitalbridge.messaging.read_models import Key, Reader, ReadModel, Row
from vitalbridge.provider.messages import (
    FindProviders,
    ProviderCreated,
    ProviderDeactivated,
    ProviderUpdated,
    ProviderView,
)
from vitalbridge.reporting import read_model_tables as tables
from vitalbridge.reporting.utilization import DayUsage, daily_usage
from vitalbridge.schedule.messages import (
    DateOverrideRemoved,
    DateOverrideSet,
    HoursZones,
    LeaveApproved,
    LeaveCancelled,
    ProviderZone,
    WorkingHoursSet,
    WorkingPeriods,
)
from vitalbridge.tenant.messages import TenantCreated

PROVIDER_DAYS = "provider_days"
ONE_DAY = timedelta(days=1)
LEAVE_EVENTS = frozenset({LeaveApproved.type, LeaveCancelled.type})
OVERRIDE_EVENTS = frozenset({DateOverrideSet.type, DateOverrideRemoved.type})
Span = tuple[datetime, datetime]


@dataclass(frozen=True)
class ReportWindow:
    """How many local dates before and after today the figures are kept for."""

    past_days: int
    future_days: int

    def around(self, today: date) -> tuple[date, date]:
        """The first and last date kept on ``today``."""
        return today - timedelta(days=self.past_days), today + timedelta(days=self.future_days)


def day_key(provider_id: uuid.UUID | str, day: date) -> Key:
    """The key of one provider's local date (in every zone)."""
    return f"{provider_id}/{day.isoformat()}"


def parse_day_key(key: Key) -> tuple[uuid.UUID, date]:
    """The provider and date a key stands for."""
    provider, day = key.split("/")
    return uuid.UUID(provider), date.fromisoformat(day)


def today(session: Session) -> date:
    """The UTC date by the database's clock, which the window is measured from."""
    now: datetime = session.scalar(select(func.clock_timestamp()))  # type: ignore[assignment]
    return now.astimezone(UTC).date()


def local_dates(span: Span, zone: ZoneInfo) -> list[date]:
    """The local dates of ``zone`` that ``[start, end)`` overlaps."""
    first = span[0].astimezone(zone).date()
    last = (span[1] - timedelta(microseconds=1)).astimezone(zone).date()
    return [first + n * ONE_DAY for n in range((last - first).days + 1)]


def midnight(day: date, zone: ZoneInfo) -> datetime:
    """The instant local date ``day`` starts in ``zone`` (as the report counts it)."""
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)


def day_json(day: DayUsage) -> str:
    """One date as the report answers it."""
    return json.dumps({"date": day.date.isoformat(), **day.to_json()}, separators=(",", ":"))


@dataclass
class _Touched:
    """The dates events touched, per provider, within the window."""

    first: date
    last: date
    spans: defaultdict[uuid.UUID, list[Span]]
    dates: defaultdict[uuid.UUID, set[date]]
    from_date: dict[uuid.UUID, date]  # every date from this one to the window's end
    hours: dict[uuid.UUID, date]  # hours changed from this date: maybe a new zone

    def since(self, provider_id: uuid.UUID, day: date) -> None:
        earlier = self.from_date.get(provider_id, day)
        self.from_date[provider_id] = max(min(earlier, day), self.first)


class ProviderDays(ReadModel):
    """Working, booked minutes and counts per provider, zone and local date."""

    name = PROVIDER_DAYS
    event_types = frozenset({
        TenantCreated.type, ProviderCreated.type, ProviderUpdated.type,
        ProviderDeactivated.type,
        WorkingHoursSet.type, *OVERRIDE_EVENTS, *LEAVE_EVENTS, *APPOINTMENT_EVENTS})
    table = tables.provider_days
    staging = tables.provider_days_staging
    key_column = "day_key"

    def __init__(self, window: ReportWindow) -> None:
        self.window = window

    def key_value(self, key: Key) -> Any:
        """Keys are stored as they are."""
        return key

    # Which dates --------------------------------------------------------------------

    def keys_of(self, envelopes: Sequence[dict[str, Any]], reader: Reader) -> set[Key]:
        """The provider dates the events may have changed, inside the window."""
        first, last = self.window.around(today(reader.session))
        if any(e["type"] == TenantCreated.type for e in envelopes):
            # A new clinic: nothing before it to fill, its events keep the window.
            _open_window(reader.session, reader.tenant_id, first, last)
        touched = _Touched(first, last, defaultdict(list), defaultdict(set), {}, {})
        for envelope in envelopes:
            _note(envelope, touched)
        for provider_id, day in _new_zone_hours(reader, touched).items():
            touched.since(provider_id, day)
        zones = _zones_of(reader, touched.spans)
        keys = {day_key(p, day) for p, spans in touched.spans.items() for span in spans
                for zone in zones[p] for day in local_dates(span, zone)}
        keys |= {day_key(p, day) for p, days in touched.dates.items() for day in days}
        for provider_id, since in touched.from_date.items():
            keys |= {day_key(provider_id, since + n * ONE_DAY)
                     for n in range((last - since).days + 1)}
        return {key for key in keys if first <= parse_day_key(key)[1] <= last}

    # The rows -----------------------------------------------------------------------

    def rows_for(self, keys: Sequence[Key], reader: Reader) -> list[Row]:
        """Four questions (providers, zones, working time, appointments) for any keys;
        two when ``keys_of`` asked the first two in the same apply."""
        wanted: defaultdict[uuid.UUID, set[date]] = defaultdict(set)
        for key in keys:
            provider_id, day = parse_day_key(key)
            wanted[provider_id].add(day)
        providers = _providers(reader, wanted)
        zones = _zones_of(reader, providers)
        windows = [window for p, days in wanted.items() if p in providers
                   for window in _windows(p, sorted(days), zones[p])]
        if not windows:
            return []
        working = {w.provider_id: w.periods for w in reader.ask(WorkingPeriods(
            providers=tuple(ProviderZone(p, providers[p].timezone) for p in zones),
            start=min(w.start for w in windows), end=max(w.end for w in windows)))}
        booked = reader.ask(AppointmentSpansIn(windows=tuple(windows)))
        computed_at = reader.session.scalar(select(func.clock_timestamp()))
        rows = []
        for provider_id, zone_list in zones.items():
            for zone in zone_list:
                rows += _provider_rows(providers[provider_id], zone,
                                       sorted(wanted[provider_id]), working[provider_id],
                                       booked[provider_id], computed_at)
        return rows

    def key_page(self, reader: Reader, after: Key | None, limit: int) -> list[Key]:
        """Every provider's every date in the window, by provider id then date."""
        first, last = self.window.around(today(reader.session))
        ids = sorted(str(p.id) for p in reader.ask(FindProviders()))
        start_at, start_day = (ids[0] if ids else "", first)
        if after is not None:
            last_provider, last_day = parse_day_key(after)
            start_at, start_day = str(last_provider), last_day + ONE_DAY
        page: list[Key] = []
        for provider in (p for p in ids if p >= start_at):
            day = start_day if provider == start_at else first
            while day <= last and len(page) < limit:
                page.append(day_key(provider, day))
                day += ONE_DAY
            if len(page) >= limit:
                break
        return page

    def reconciled_keys(self, keys: Sequence[Key], reader: Reader) -> list[Key]:
        """The dates both today's window and the rows' window hold: between hourly rolls
        the rows may still keep a date the window let go, or not yet a new one."""
        first, last = self.window.around(today(reader.session))
        held = reader.session.execute(select(tables.provider_day_window.c.first_date,
                                             tables.provider_day_window.c.last_date)).first()
        if held is None:
            return []
        low, high = max(first, held.first_date), min(last, held.last_date)
        return [key for key in keys if low <= parse_day_key(key)[1] <= high]

    def on_rebuilt(self, session: Session, tenant_id: uuid.UUID) -> None:
        """The rows now hold the window; a day short at the end in case the date turned
        while the rebuild ran (the hourly roll fills it)."""
        first, last = self.window.around(today(session))
        set_window(session, tenant_id, first, last - ONE_DAY)


def _note(envelope: dict[str, Any], touched: _Touched) -> None:
    """Record what one event touches."""
    kind, data = envelope["type"], envelope["data"]
    if kind in APPOINTMENT_EVENTS or kind in LEAVE_EVENTS:
        provider_id = uuid.UUID(data["provider_id"])
        touched.spans[provider_id].append(_span(data["start"], data["end"]))
        if kind == AppointmentRescheduled.type:
            touched.spans[provider_id].append(
                _span(data["previous_start"], data["previous_end"]))
    elif kind in OVERRIDE_EVENTS:
        # The override's date is in its hours' zone; in another it may be a date off.
        day = date.fromisoformat(data["day"])
        touched.dates[uuid.UUID(envelope["aggregate_id"])] |= {day - ONE_DAY, day, day + ONE_DAY}
    elif kind == ProviderDeactivated.type:
        at = datetime.fromisoformat(envelope["occurred_at"])
        touched.since(uuid.UUID(envelope["aggregate_id"]), at.date() - 2 * ONE_DAY)
    elif kind == WorkingHoursSet.type:
        start = data["effective_from"]
        provider_id = uuid.UUID(envelope["aggregate_id"])
        day = date.fromisoformat(start) - ONE_DAY if start else touched.first
        touched.since(provider_id, day)
        touched.hours[provider_id] = day
    elif kind == ProviderCreated.type or _new_zone(envelope):
        # Every date of the window: a new provider's (zero until it works), or all of
        # them in a zone new to the provider.
        touched.since(uuid.UUID(envelope["aggregate_id"]), touched.first)


def _new_zone(envelope: dict[str, Any]) -> bool:
    return envelope["type"] == ProviderUpdated.type \
        and "timezone" in envelope["data"].get("changes", {})


def _span(start: str, end: str) -> Span:
    return datetime.fromisoformat(start), datetime.fromisoformat(end)


def _new_zone_hours(reader: Reader, touched: _Touched) -> dict[uuid.UUID, date]:
    """Providers whose set of zones may have changed with their hours: every date.

    The rows of a provider are kept in each zone it has; hours in a zone new to it (or
    dropping one) change the dates before the new hours too.
    """
    if not touched.hours:
        return {}
    current = _zones_of(reader, touched.hours)
    stored: defaultdict[uuid.UUID, set[str]] = defaultdict(set)
    for provider_id, zone in reader.session.execute(
            select(tables.provider_days.c.provider_id, tables.provider_days.c.zone)
            .where(tables.provider_days.c.provider_id.in_(list(touched.hours)))
            .distinct()):
        stored[provider_id].add(zone)
    return {p: touched.first for p in touched.hours
            if {zone.key for zone in current[p]} != stored[p]}


def _zones_of(reader: Reader, provider_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[ZoneInfo]]:
    """Each provider's zones: its own and those of every version of its hours (asked
    once per apply: the dates' keys and their rows both need them)."""
    known: dict[uuid.UUID, list[ZoneInfo]] = reader.memo.setdefault("zones", {})
    ids = tuple(provider_ids)
    providers = _providers(reader, ids)
    missing = tuple(p for p in providers if p not in known)
    if missing:
        hours = reader.ask(HoursZones(provider_ids=missing))
        known.update({p: [ZoneInfo(z) for z in sorted({providers[p].timezone, *hours[p]})]
                      for p in missing})
    return {p: known[p] for p in ids if p in providers}


def _providers(reader: Reader, provider_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, ProviderView]:
    """The providers of ``provider_ids`` that exist, asked once per apply."""
    known: dict[uuid.UUID, ProviderView | None] = reader.memo.setdefault("providers", {})
    ids = tuple(dict.fromkeys(provider_ids))
    missing = tuple(p for p in ids if p not in known)
    if missing:
        known.update(dict.fromkeys(missing))
        known.update({p.id: p for p in reader.ask(FindProviders(ids=missing))})
    return {p: view for p in ids if (view := known[p]) is not None}


def _windows(provider_id: uuid.UUID, days: list[date],
             zones: list[ZoneInfo]) -> list[ProviderWindow]:
    """The instants covering each run of consecutive ``days`` in every zone."""
    runs: list[list[date]] = []
    for day in days:
        if runs and day - runs[-1][-1] == ONE_DAY:
            runs[-1].append(day)
        else:
            runs.append([day])
    return [ProviderWindow(provider_id, min(midnight(run[0], z) for z in zones),
                           max(midnight(run[-1] + ONE_DAY, z) for z in zones))
            for run in runs]


def _provider_rows(provider: ProviderView, zone: ZoneInfo, days: list[date],
                   working: Iterable[Span], appointments: list[Any],
                   computed_at: Any) -> list[Row]:
    """The rows of ``days`` (sorted) in one zone, one per date, zero or not."""
    usage = daily_usage(first=days[0], last=days[-1], zone=zone, working=working,
                        appointments=appointments, working_until=provider.deactivated_at)
    wanted = set(days)
    return [{"provider_id": provider.id, "zone": zone.key, "local_date": day.date,
             "day_key": day_key(provider.id, day.date),
             **{name: getattr(day, name) for name in tables.FIGURES},
             "day_json": day_json(day), "computed_at": computed_at}
            for day in usage if day.date in wanted]


# The window the rows hold ------------------------------------------------------------

_OPEN = text("""
INSERT INTO provider_day_window (tenant_id, first_date, last_date, updated_at)
VALUES (:tenant, :first, :last, now())
ON CONFLICT (tenant_id) DO NOTHING
""")
_SET = text("""
INSERT INTO provider_day_window (tenant_id, first_date, last_date, updated_at)
VALUES (:tenant, :first, :last, now())
ON CONFLICT (tenant_id) DO UPDATE
   SET first_date = EXCLUDED.first_date, last_date = EXCLUDED.last_date, updated_at = now()
""")


def _open_window(session: Session, tenant_id: uuid.UUID, first: date, last: date) -> None:
    session.execute(_OPEN, {"tenant": tenant_id, "first": first, "last": last})


def set_window(session: Session, tenant_id: uuid.UUID, first: date, last: date) -> None:
    """Record which dates the tenant's rows hold."""
    session.execute(_SET, {"tenant": tenant_id, "first": first, "last": last})

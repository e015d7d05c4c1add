"""Pure calendar math of schedules: local working hours to UTC periods, and free slots.

No I/O. Local wall-clock times become instants through zoneinfo with ``fold=0``: a local
time inside a spring-forward gap maps forward by the gap (02:30 New York -> 03:30 EDT),
a repeated fall-back time means its first occurrence. Intervals that collapse or invert
through that mapping are dropped, and the periods of a day are merged, so the result is
always sorted, disjoint and non-empty. An interval ends at most at ``time.max``, which
means the end of the local day (the next local midnight); 24:00 is not representable.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from itertools import combinations, islice
from zoneinfo import ZoneInfo

ONE_DAY = timedelta(days=1)
Zone = str | ZoneInfo  # an IANA name or a ZoneInfo
END_OF_DAY = time.max  # as an interval end: the next local midnight


@dataclass(frozen=True)
class WeeklyRule:
    """A local wall-clock interval on a weekday (Mon=0 .. Sun=6), start < end."""

    weekday: int
    start: time
    end: time


@dataclass(frozen=True)
class DayOverride:
    """A local date with its own intervals; no intervals means closed that day."""

    day: date
    intervals: tuple[tuple[time, time], ...] = ()


@dataclass(frozen=True, order=True)
class Period:
    """A half-open interval [start, end) of aware instants, kept in UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        # Naive datetimes would silently be read in the server's zone: refuse them.
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("Period needs timezone-aware datetimes")
        # Periods are made by the hundred thousand in availability: skip the no-op.
        if self.start.tzinfo is not UTC:
            object.__setattr__(self, "start", self.start.astimezone(UTC))
        if self.end.tzinfo is not UTC:
            object.__setattr__(self, "end", self.end.astimezone(UTC))

    @property
    def empty(self) -> bool:
        """Whether the period holds no instant."""
        return self.end <= self.start


# --- validation -------------------------------------------------------------------------

def validate_rules(rules: list[WeeklyRule]) -> dict[str, list[str]]:
    """Field errors ("rules[i]") for bad weekdays, inverted or overlapping intervals."""
    errors: dict[str, list[str]] = {}
    for i, rule in enumerate(rules):
        if not 0 <= rule.weekday <= 6:
            errors.setdefault(f"rules[{i}]", []).append(
                "weekday must be 0 (Monday) to 6 (Sunday)")
    for weekday in range(7):
        named = [(f"rules[{i}]", r.start, r.end) for i, r in enumerate(rules)
                 if r.weekday == weekday]
        _add_errors(errors, _interval_errors(named))
    return errors


def validate_intervals(intervals: list[tuple[time, time]]) -> dict[str, list[str]]:
    """Field errors ("intervals[i]") for inverted or overlapping intervals of one day."""
    return _interval_errors([(f"intervals[{i}]", s, e) for i, (s, e) in enumerate(intervals)])


def _interval_errors(named: list[tuple[str, time, time]]) -> dict[str, list[str]]:
    """Errors of one day's intervals, each named by its field key."""
    errors: dict[str, list[str]] = {}
    valid = []
    for key, start, end in named:
        if start.tzinfo is not None or end.tzinfo is not None:
            errors.setdefault(key, []).append("times are local: give them without a zone")
        elif not start < end:
            errors.setdefault(key, []).append("end must be after start")
        else:
            valid.append((key, start, end))
    # Half-open: 09:00-12:00 and 12:00-13:00 touch but do not overlap.
    for (key_a, start_a, end_a), (key_b, start_b, end_b) in combinations(valid, 2):
        if start_a < end_b and start_b < end_a:
            errors.setdefault(key_b, []).append(f"overlaps {key_a}")
    return errors


def _add_errors(into: dict[str, list[str]], more: dict[str, list[str]]) -> None:
    """Append the messages of ``more`` to ``into``, key by key."""
    for key, messages in more.items():
        into.setdefault(key, []).extend(messages)


# --- working periods --------------------------------------------------------------------

def as_zone(zone: Zone) -> ZoneInfo:
    """The ZoneInfo of an IANA name (ZoneInfo caches them) or of a ZoneInfo."""
    return ZoneInfo(zone) if isinstance(zone, str) else zone


def local_to_utc(day: date, at: time, zone: Zone) -> datetime:
    """The UTC instant of local ``day`` at ``at`` (fold=0; ``time.max`` = next midnight)."""
    wall = datetime.combine(day + ONE_DAY, time()) if at == END_OF_DAY \
        else datetime.combine(day, at)
    return wall.replace(tzinfo=as_zone(zone), fold=0).astimezone(UTC)


def local_dates(window: Period, zone: Zone) -> list[date]:
    """The local dates whose hours may fall inside ``window`` (one day of margin each side)."""
    tz = as_zone(zone)
    # Defensive margin: in odd zones a fall-back can briefly show the previous date again.
    # Clipping to the window drops whatever the extra days add.
    first = window.start.astimezone(tz).date() - ONE_DAY
    last = window.end.astimezone(tz).date() + ONE_DAY
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def working_periods(rules: Sequence[WeeklyRule], overrides: list[DayOverride], zone: Zone,
                    window: Period, effective_from: date | None = None, *,
                    since: date | None = None, until: date | None = None) -> list[Period]:
    """UTC working periods inside ``window``: overrides win, rules apply from effective_from.

    Only local dates in ``[since, until)`` count (either bound None: unbounded).
    """
    if window.empty:
        return []
    by_day = {o.day: o.intervals for o in overrides}  # a later override of a date wins
    tz = as_zone(zone)
    periods: list[Period] = []
    for day in local_dates(window, tz):
        if (since is not None and day < since) or (until is not None and day >= until):
            continue
        intervals = by_day.get(day)
        if intervals is None:
            intervals = _rule_intervals(rules, day, effective_from)
        periods.extend(_clip(Period(local_to_utc(day, s, tz), local_to_utc(day, e, tz)), window)
                       for s, e in intervals)
    return merge(periods)


def _rule_intervals(rules: Sequence[WeeklyRule], day: date,
                    effective_from: date | None) -> tuple[tuple[time, time], ...]:
    """The weekly intervals of ``day``, none before the rules take effect."""
    if effective_from is not None and day < effective_from:
        return ()
    return tuple((r.start, r.end) for r in rules if r.weekday == day.weekday())


# --- versions of the weekly hours -------------------------------------------------------

@dataclass(frozen=True)
class HoursVersion:
    """Weekly rules in one zone, governing the local dates (in that zone) from
    ``effective_from`` (None: from the beginning) until the next version's."""

    effective_from: date | None
    zone: ZoneInfo
    rules: tuple[WeeklyRule, ...]


def governing(versions: Sequence[HoursVersion], day: date) -> HoursVersion | None:
    """The version governing local date ``day``: the latest starting on or before it.

    ``versions`` are sorted by start (a None start first). Before the first version's
    start, None: that date has no weekly hours.
    """
    found = None
    for version in versions:
        if version.effective_from is not None and version.effective_from > day:
            break
        found = version
    return found


def versioned_working_periods(versions: Sequence[HoursVersion], overrides: list[DayOverride],
                              default_zone: Zone, window: Period) -> list[Period]:
    """UTC working periods inside ``window`` over several versions of the weekly hours.

    Each version gives the periods of its own local dates in its own zone; a date
    override replaces the rules of its date in the zone of the version governing it.
    Dates before the first version follow its zone for overrides (and have no weekly
    hours); with no version at all, overrides are read in ``default_zone``.
    """
    return merge(p for _, periods in owned_periods(versions, overrides, default_zone, window)
                 for p in periods)


Owned = list[tuple[ZoneInfo, list[Period]]]


def owned_periods(versions: Sequence[HoursVersion], overrides: list[DayOverride],
                  default_zone: Zone, window: Period) -> Owned:
    """The working periods of ``window`` grouped by the zone whose local dates made them.

    When hours move east, the new zone's first date begins while the old zone's last
    date still runs: an instant then says nothing of which zone's clock a period keeps,
    only the version that made it does (slots keep its grid, the schedule its offset).
    """
    if not versions:
        return [(as_zone(default_zone), working_periods([], overrides, default_zone, window))]
    by_zone: dict[ZoneInfo, list[Period]] = {}
    for index, version in enumerate(versions):
        following = versions[index + 1] if index + 1 < len(versions) else None
        by_zone.setdefault(version.zone, []).extend(working_periods(
            version.rules, overrides, version.zone, window,
            effective_from=version.effective_from,
            since=version.effective_from if index else None,
            until=following.effective_from if following else None))
    return [(zone, merge(periods)) for zone, periods in by_zone.items()]


def owner_zone(owned: Owned, instant: datetime) -> ZoneInfo | None:
    """The zone of the working period holding ``instant``, if one does."""
    for zone, periods in owned:
        index = bisect_right([p.start for p in periods], instant) - 1
        if index >= 0 and instant < periods[index].end:
            return zone
    return None


def zone_changes(versions: Sequence[HoursVersion],
                 default_zone: Zone) -> list[tuple[datetime | None, ZoneInfo]]:
    """From which instant (None: always) each zone of the versions holds, in order.

    A version's zone holds from its first local midnight; consecutive versions in one
    zone are one entry. With no version, the default zone holds always.
    """
    changes: list[tuple[datetime | None, ZoneInfo]] = []
    for version in versions:
        since = (None if version.effective_from is None or not changes
                 else local_to_utc(version.effective_from, time(), version.zone))
        if changes and changes[-1][1] == version.zone:
            continue
        # Zones 26 hours apart can put a later date's midnight first: keep the order.
        previous = changes[-1][0] if changes else None
        if since is not None and previous is not None and since < previous:
            since = previous
        changes.append((since, version.zone))
    return changes or [(None, as_zone(default_zone))]


def zone_at(versions: Sequence[HoursVersion], default_zone: Zone,
            instant: datetime) -> ZoneInfo:
    """The zone of the working hours in force at ``instant``."""
    found = as_zone(default_zone)
    for since, zone in zone_changes(versions, default_zone):
        if since is not None and since > instant:
            break
        found = zone
    return found


def _clip(period: Period, window: Period) -> Period:
    """``period`` cut to ``window`` (possibly empty)."""
    return Period(max(period.start, window.start), min(period.end, window.end))


def merge(periods: Iterable[Period]) -> list[Period]:
    """The union of ``periods``: sorted, non-empty, overlapping or touching ones joined."""
    merged: list[Period] = []
    for period in sorted(p for p in periods if not p.empty):
        if merged and period.start <= merged[-1].end:
            if period.end > merged[-1].end:
                merged[-1] = Period(merged[-1].start, period.end)
        else:
            merged.append(period)
    return merged


# --- subtraction and slots --------------------------------------------------------------

def subtract(periods: list[Period], blocked: list[Period]) -> list[Period]:
    """Each of ``periods`` minus the union of ``blocked`` (half-open), sorted, non-empty."""
    holes = merge(blocked)
    ends = [hole.end for hole in holes]
    pieces: list[Period] = []
    for period in periods:
        if not period.empty:
            pieces.extend(_cut(period, holes, ends))
    return sorted(pieces)


def _cut(period: Period, holes: list[Period], ends: list[datetime]) -> Iterator[Period]:
    """The parts of ``period`` outside the sorted disjoint ``holes``."""
    cursor = period.start
    # Holes ending at or before the period's start cannot cut it: skip them by bisection.
    for hole in islice(holes, bisect_right(ends, period.start), None):
        if hole.start >= period.end:
            break
        if hole.start > cursor:
            yield Period(cursor, hole.start)
        cursor = max(cursor, hole.end)
    if cursor < period.end:
        yield Period(cursor, period.end)


def free_slots(working: list[Period], blocked: list[Period], *, duration: timedelta,
               step: timedelta, zone: Zone, not_before: datetime) -> list[datetime]:
    """UTC starts of ``duration`` inside one free working piece, on the local ``step`` grid."""
    if duration <= timedelta(0) or step <= timedelta(0):
        raise ValueError("duration and step must be positive")
    if not_before.tzinfo is None:
        raise ValueError("not_before needs a timezone-aware datetime")
    floor, tz = not_before.astimezone(UTC), as_zone(zone)
    # A slot lies inside one piece; touching working periods stay apart, as given.
    pieces = subtract(working, blocked)
    if not pieces:
        return []
    grid = _grid(tz, Period(pieces[0].start, max(piece.end for piece in pieces)), step)
    slots: list[datetime] = []
    for piece in pieces:
        # Grid instants s with max(piece.start, floor) <= s and s + duration <= piece.end.
        lo, hi = max(piece.start, floor), piece.end - duration
        if lo <= hi:
            slots.extend(grid[bisect_left(grid, lo):bisect_right(grid, hi)])
    return sorted(set(slots))  # overlapping working periods may offer a start twice


def versioned_free_slots(owned: Owned, blocked: list[Period], *, duration: timedelta,
                         step: timedelta, not_before: datetime) -> list[datetime]:
    """``free_slots`` over hours in several zones: each start on the grid of the zone
    whose local dates made the working period it starts in (``owned_periods``).

    A slot may run on into a period of the next version (a booking across midnight).
    """
    working = merge(p for _, periods in owned for p in periods)
    if len(owned) == 1:
        return free_slots(working, blocked, duration=duration, step=step, zone=owned[0][0],
                          not_before=not_before)
    slots: set[datetime] = set()
    for zone, periods in owned:
        candidates = free_slots(working, blocked, duration=duration, step=step, zone=zone,
                                not_before=not_before)
        slots.update(start for start in candidates if owner_zone([(zone, periods)], start))
    return sorted(slots)


def _grid(tz: ZoneInfo, window: Period, step: timedelta) -> list[datetime]:
    """The sorted local-grid instants of every local date that may touch ``window``."""
    # Consecutive local dates never interleave (a fold stays within its own date), so
    # their grids concatenate in order.
    grid: list[datetime] = []
    for day in local_dates(window, tz):
        grid.extend(_day_grid(tz, day, step))
    return grid


@lru_cache(maxsize=4096)
def _day_grid(tz: ZoneInfo, day: date, step: timedelta) -> tuple[datetime, ...]:
    """Sorted UTC instants whose local wall clock on ``day`` is a multiple of ``step``."""
    # Wall-clock alignment (not elapsed time) keeps 09:00 a slot on DST days too.
    # Cached because many providers share a zone and the same days.
    midnight = datetime.combine(day, time())
    count = -(-ONE_DAY // step)  # ceiling: a step need not divide the day
    return tuple(sorted({instant for k in range(count)
                         for instant in _instants(midnight + k * step, tz)}))


def _instants(wall: datetime, tz: ZoneInfo) -> list[datetime]:
    """The UTC instants showing naive ``wall`` in ``tz``: none in a gap, two in a fold."""
    instants = []
    for fold in (0, 1):
        instant = wall.replace(tzinfo=tz, fold=fold).astimezone(UTC)
        # A gap time does not round-trip: no clock ever shows it, so no slot starts there.
        if instant.astimezone(tz).replace(tzinfo=None) == wall:
            instants.append(instant)
    return instants

"""Properties of the calendar math over random zones, dates (DST days included) and rules.

Every generated boundary lies on a 5-minute UTC grid (local quarter hours, zone offsets in
quarter hours, windows and blocks in 5 minutes, steps in 5 minutes), so checking every
5-minute instant against a brute-force oracle checks the whole answer.
"""

from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from vitalbridge.schedule.calendar import (
    DayOverride,
    HoursVersion,
    Period,
    WeeklyRule,
    free_slots,
    local_to_utc,
    merge,
    owned_periods,
    subtract,
    versioned_free_slots,
    versioned_working_periods,
    working_periods,
)

ZONES = ["America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kolkata",
         "Pacific/Chatham", "UTC"]
GRID = timedelta(minutes=5)
FIRST, LAST = date(2026, 1, 1), date(2028, 12, 31)
PROPERTY = settings(max_examples=120, deadline=None)


def _transition_days(zone: str) -> list[date]:
    """Local dates on which the zone's UTC offset changes, in FIRST..LAST."""
    tz, found, day = ZoneInfo(zone), [], FIRST
    while day <= LAST:
        midnight = datetime.combine(day, time(), tz)
        if midnight.utcoffset() != (midnight + timedelta(days=1)).utcoffset():
            found.append(day)
        day += timedelta(days=1)
    return found


TRANSITIONS = {zone: _transition_days(zone) for zone in ZONES}


def _wall(quarter: int) -> time:
    """The local time of a quarter-hour index; 96 is the end of the day."""
    return time.max if quarter == 96 else time(quarter // 4, quarter % 4 * 15)


@st.composite
def day_intervals(draw: st.DrawFn) -> tuple[tuple[time, time], ...]:
    """Sorted disjoint local intervals of one day on quarter hours."""
    edges = sorted(draw(st.sets(st.integers(0, 96), max_size=6)))
    return tuple((_wall(a), _wall(b)) for a, b in zip(edges[::2], edges[1::2], strict=False))


@st.composite
def schedules(draw: st.DrawFn) -> dict:
    """A zone, weekly rules, overrides, a window and an effective date near a (DST) day."""
    zone = draw(st.sampled_from(ZONES))
    near = st.sampled_from(TRANSITIONS[zone]) if TRANSITIONS[zone] else st.nothing()
    day = draw(near | st.dates(FIRST, LAST))
    rules = [WeeklyRule(weekday, start, end) for weekday in range(7)
             for start, end in draw(day_intervals())]
    overrides = [DayOverride(day + timedelta(days=draw(st.integers(-1, 3))), draw(day_intervals()))
                 for _ in range(draw(st.integers(0, 2)))]
    start = datetime.combine(day, time(), UTC) + draw(st.integers(-288, 288)) * GRID
    window = Period(start, start + draw(st.integers(0, 3 * 288)) * GRID)
    effective = draw(st.none() | st.just(day + timedelta(days=draw(st.integers(-1, 2)))))
    return {"zone": zone, "rules": rules, "overrides": overrides, "window": window,
            "effective_from": effective}


def periods_near(start: datetime, count: int = 6) -> st.SearchStrategy[list[Period]]:
    """Random periods on the 5-minute grid within about three days of ``start``."""
    offsets = st.tuples(st.integers(-24, 3 * 288), st.integers(0, 48))
    return st.lists(offsets, max_size=count).map(
        lambda pairs: [Period(start + a * GRID, start + (a + n) * GRID) for a, n in pairs])


def grid(window: Period) -> list[datetime]:
    """Every 5-minute instant in [window.start, window.end]."""
    return [window.start + n * GRID for n in range((window.end - window.start) // GRID + 1)]


def covered(instant: datetime, periods: list[Period]) -> bool:
    """Whether some half-open period holds ``instant``."""
    return any(p.start <= instant < p.end for p in periods)


def assert_tidy(periods: list[Period]) -> None:
    """Sorted, non-empty, and strictly apart (merged when touching)."""
    assert all(p.start < p.end for p in periods)
    assert all(a.end < b.start for a, b in pairwise(periods))


def oracle_intervals(case: dict) -> list[Period]:
    """Per local day, the converted intervals, without merging or clipping."""
    by_day = {o.day: o.intervals for o in case["overrides"]}
    tz, effective = ZoneInfo(case["zone"]), case["effective_from"]
    first = case["window"].start.astimezone(tz).date() - timedelta(days=2)
    found = []
    for n in range((case["window"].end - case["window"].start).days + 5):
        day = first + timedelta(days=n)
        rules = [] if effective and day < effective else [
            (r.start, r.end) for r in case["rules"] if r.weekday == day.weekday()]
        found += [Period(local_to_utc(day, s, tz), local_to_utc(day, e, tz))
                  for s, e in by_day.get(day, rules)]
    return found


def aligned(instant: datetime, zone: str, step: timedelta) -> bool:
    """Whether the local wall clock of ``instant`` is a multiple of ``step`` past midnight."""
    local = instant.astimezone(ZoneInfo(zone))
    since_midnight = local.replace(tzinfo=None) - datetime.combine(local.date(), time())
    return since_midnight % step == timedelta(0)


@PROPERTY
@given(schedules())
def test_working_periods_are_tidy_inside_the_window_and_exactly_the_rules(case):
    periods = working_periods(**case)
    assert_tidy(periods)
    window = case["window"]
    assert all(window.start <= p.start and p.end <= window.end for p in periods)
    expected = oracle_intervals(case)
    for instant in grid(window):
        assert covered(instant, periods) == (instant < window.end and covered(instant, expected))


@PROPERTY
@given(st.data(), st.datetimes(datetime(2026, 1, 1), datetime(2028, 12, 31),
                               timezones=st.just(UTC)))
def test_subtract_is_the_set_difference(data, when):
    start = when.replace(minute=when.minute // 5 * 5, second=0, microsecond=0)
    periods = merge(data.draw(periods_near(start)))
    blocked = data.draw(periods_near(start))
    pieces = subtract(periods, blocked)
    assert all(p.start < p.end for p in pieces)
    assert all(a.end <= b.start for a, b in pairwise(pieces))
    for instant in grid(Period(start - 30 * GRID, start + 4 * 288 * GRID)):
        assert covered(instant, pieces) == (covered(instant, periods)
                                            and not covered(instant, blocked))


DURATIONS = st.sampled_from([5, 15, 20, 30, 45, 60, 90]).map(lambda m: m * timedelta(minutes=1))
STEPS = st.sampled_from([5, 10, 15, 20, 25, 30, 45, 60]).map(lambda m: m * timedelta(minutes=1))


@st.composite
def around_the_clock(draw: st.DrawFn) -> dict:
    """A DST zone working all day every day, the window on one of its transition days."""
    zone = draw(st.sampled_from([z for z in ZONES if TRANSITIONS[z]]))
    day = draw(st.sampled_from(TRANSITIONS[zone]))
    start = datetime.combine(day, time(), UTC) - 288 * GRID
    return {"zone": zone, "rules": [WeeklyRule(d, time(0), time.max) for d in range(7)],
            "overrides": [], "window": Period(start, start + 3 * 288 * GRID),
            "effective_from": None}


def check_slots(data: st.DataObject, case: dict, duration: timedelta, step: timedelta) -> None:
    """Slots of the case, with random blocks and notice, equal the brute-force answer."""
    window, zone = case["window"], case["zone"]
    working = working_periods(**case)
    blocked = data.draw(periods_near(window.start))
    not_before = window.start + data.draw(st.integers(-12, 3 * 288)) * GRID
    found = free_slots(working, blocked, duration=duration, step=step, zone=zone,
                       not_before=not_before)
    assert found == sorted(set(found))
    assert all(s >= not_before and aligned(s, zone, step) for s in found)
    assert all(any(w.start <= s and s + duration <= w.end for w in working) for s in found)
    blocked = [b for b in blocked if b.start < b.end]  # an empty block blocks nothing
    assert not any(b.start < s + duration and s < b.end for s in found for b in blocked)
    expected = [s for s in grid(window) if s >= not_before and aligned(s, zone, step)
                and any(w.start <= s and s + duration <= w.end for w in working)
                and not any(b.start < s + duration and s < b.end for b in blocked)]
    assert found == expected


@PROPERTY
@given(st.data(), schedules(), DURATIONS, STEPS)
def test_slots_are_exactly_the_aligned_free_fitting_starts(data, case, duration, step):
    check_slots(data, case, duration, step)


@PROPERTY
@given(st.data(), around_the_clock(), DURATIONS, STEPS)
def test_slots_through_dst_transitions_are_neither_missing_nor_duplicated(data, case, duration,
                                                                         step):
    check_slots(data, case, duration, step)


# Versions of the weekly hours, each in its own zone --------------------------------------


@st.composite
def versioned(draw: st.DrawFn) -> dict:
    """One to three versions starting around a (DST) day, the window around it too."""
    case = draw(schedules())
    day = case["window"].start.date()
    starts = sorted(draw(st.sets(st.integers(-2, 3), min_size=1, max_size=3)))
    first = draw(st.none() | st.just(day + timedelta(days=starts[0])))
    versions = [HoursVersion(first if n == 0 else day + timedelta(days=offset),
                             ZoneInfo(draw(st.sampled_from(ZONES))),
                             tuple(WeeklyRule(weekday, start, end) for weekday in range(7)
                                   for start, end in draw(day_intervals())))
                for n, offset in enumerate(starts)]
    return {"versions": versions, "overrides": case["overrides"],
            "default_zone": case["zone"], "window": case["window"]}


def oracle_versioned(case: dict) -> list[tuple[ZoneInfo, Period]]:
    """Each version's own local dates in its own zone: overrides, else its rules; each
    period with the zone of the version that made it."""
    by_day = {o.day: o.intervals for o in case["overrides"]}
    versions, window, found = case["versions"], case["window"], []
    for index, version in enumerate(versions):
        following = versions[index + 1].effective_from if index + 1 < len(versions) else None
        first = window.start.astimezone(version.zone).date() - timedelta(days=2)
        for n in range((window.end - window.start).days + 5):
            day = first + timedelta(days=n)
            if (index and day < version.effective_from) or (following and day >= following):
                continue
            rules = [] if version.effective_from and day < version.effective_from else [
                (r.start, r.end) for r in version.rules if r.weekday == day.weekday()]
            found += [(version.zone, Period(local_to_utc(day, s, version.zone),
                                            local_to_utc(day, e, version.zone)))
                      for s, e in by_day.get(day, rules)]
    return found


@PROPERTY
@given(versioned())
def test_versioned_periods_are_each_versions_own_dates_in_its_own_zone(case):
    periods = versioned_working_periods(**case)
    assert_tidy(periods)
    window = case["window"]
    assert all(window.start <= p.start and p.end <= window.end for p in periods)
    expected = [period for _, period in oracle_versioned(case)]
    for instant in grid(window):
        assert covered(instant, periods) == (instant < window.end and covered(instant, expected))


@PROPERTY
@given(schedules())
def test_one_version_is_the_plain_calendar(case):
    version = HoursVersion(case["effective_from"], ZoneInfo(case["zone"]),
                           tuple(case["rules"]))
    assert versioned_working_periods([version], case["overrides"], "UTC",
                                     case["window"]) == working_periods(**case)


@PROPERTY
@given(st.data(), versioned(), DURATIONS, STEPS)
def test_versioned_slots_keep_the_grid_of_the_dates_they_start_on(data, case, duration, step):
    # The oracle finds a slot's zone by the version whose local date made the period the
    # slot starts in, never by instant: hours moving east overlap the old zone's last date.
    window = case["window"]
    working = versioned_working_periods(**case)
    blocked = [b for b in data.draw(periods_near(window.start)) if b.start < b.end]
    not_before = window.start + data.draw(st.integers(-12, 3 * 288)) * GRID
    found = versioned_free_slots(owned_periods(**case), blocked, duration=duration,
                                 step=step, not_before=not_before)
    made_by = oracle_versioned(case)
    expected = [s for s in grid(window) if s >= not_before
                and any(p.start <= s < min(p.end, window.end)
                        and aligned(s, zone.key, step) for zone, p in made_by)
                and any(w.start <= s and s + duration <= w.end for w in working)
                and not any(b.start < s + duration and s < b.end for b in blocked)]
    assert found == expected

"""The pure calendar math of schedules: validation, working periods, subtraction, slots."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from vitalbridge.schedule.calendar import (
    DayOverride,
    HoursVersion,
    Period,
    WeeklyRule,
    free_slots,
    governing,
    local_to_utc,
    merge,
    owned_periods,
    owner_zone,
    subtract,
    validate_intervals,
    validate_rules,
    versioned_free_slots,
    versioned_working_periods,
    working_periods,
    zone_at,
    zone_changes,
)

NEW_YORK = "America/New_York"
WEEKDAYS_9_TO_5 = [WeeklyRule(d, time(9), time(17)) for d in range(5)]
MIN = timedelta(minutes=1)
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def utc(month: int, day: int, hour: int = 0, minute: int = 0, year: int = 2027) -> datetime:
    """An instant in UTC."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def days(first: date, count: int = 1) -> Period:
    """A UTC window of ``count`` whole UTC days from ``first``."""
    start = datetime.combine(first, time(), UTC)
    return Period(start, start + timedelta(days=count))


def local_hhmm(instants: list[datetime], zone: str) -> list[str]:
    """The local wall clock of each instant, as HH:MM."""
    return [i.astimezone(ZoneInfo(zone)).strftime("%H:%M") for i in instants]


def slots(working: list[Period], zone: str = "UTC", blocked: list[Period] | None = None,
          duration: int = 30, step: int = 15, not_before: datetime = EPOCH) -> list[datetime]:
    """free_slots with minutes for duration and step."""
    return free_slots(working, blocked or [], duration=duration * MIN, step=step * MIN,
                      zone=zone, not_before=not_before)


# --- validation ---------------------------------------------------------------------------

def test_valid_rules_have_no_errors():
    rules = [WeeklyRule(0, time(9), time(12)), WeeklyRule(0, time(12), time(17)),
             WeeklyRule(1, time(9), time(17)), WeeklyRule(6, time(0), time.max)]
    assert validate_rules(rules) == {}
    assert validate_rules([]) == {}


def test_inverted_and_empty_rules_are_errors():
    errors = validate_rules([WeeklyRule(0, time(9), time(9)), WeeklyRule(1, time(17), time(9))])
    assert errors == {"rules[0]": ["end must be after start"],
                      "rules[1]": ["end must be after start"]}


def test_weekday_outside_monday_to_sunday_is_an_error():
    errors = validate_rules([WeeklyRule(7, time(9), time(10)), WeeklyRule(-1, time(9), time(10))])
    assert set(errors) == {"rules[0]", "rules[1]"}
    assert "weekday" in errors["rules[0]"][0]


def test_overlapping_rules_of_one_weekday_are_errors_but_other_weekdays_are_not():
    rules = [WeeklyRule(2, time(9), time(12)), WeeklyRule(3, time(10), time(11)),
             WeeklyRule(2, time(11), time(14)), WeeklyRule(2, time(8), time(18))]
    assert validate_rules(rules) == {"rules[2]": ["overlaps rules[0]"],
                                     "rules[3]": ["overlaps rules[0]", "overlaps rules[2]"]}


def test_zoned_times_are_refused():
    aware = time(9, tzinfo=UTC)
    assert "rules[0]" in validate_rules([WeeklyRule(0, aware, time(10))])


def test_override_intervals_are_validated_the_same_way():
    assert validate_intervals([(time(9), time(12)), (time(13), time(17))]) == {}
    assert validate_intervals([]) == {}
    assert validate_intervals([(time(9), time(12)), (time(11), time(13)),
                               (time(15), time(14))]) == {
        "intervals[1]": ["overlaps intervals[0]"],
        "intervals[2]": ["end must be after start"]}


# --- periods ------------------------------------------------------------------------------

def test_period_keeps_utc_and_refuses_naive_datetimes():
    local = datetime(2027, 3, 15, 9, tzinfo=ZoneInfo(NEW_YORK))
    assert Period(local, local).start == utc(3, 15, 13)
    assert Period(local, local).start.tzinfo is UTC
    with pytest.raises(ValueError, match="timezone-aware"):
        Period(datetime(2027, 3, 15), utc(3, 16))


def test_merge_joins_touching_and_overlapping_and_drops_empty():
    merged = merge([Period(utc(1, 1, 12), utc(1, 1, 13)), Period(utc(1, 1, 9), utc(1, 1, 10)),
                    Period(utc(1, 1, 10), utc(1, 1, 11)), Period(utc(1, 1, 12), utc(1, 1, 12, 30)),
                    Period(utc(1, 1, 15), utc(1, 1, 14))])
    assert merged == [Period(utc(1, 1, 9), utc(1, 1, 11)), Period(utc(1, 1, 12), utc(1, 1, 13))]


def test_local_to_utc_maps_gap_times_forward_and_repeated_times_to_their_first_occurrence():
    assert local_to_utc(date(2027, 3, 14), time(2, 30), NEW_YORK) == utc(3, 14, 7, 30)
    assert local_to_utc(date(2027, 11, 7), time(1, 30), NEW_YORK) == utc(11, 7, 5, 30)
    assert local_to_utc(date(2027, 3, 14), time.max, NEW_YORK) == utc(3, 15, 4)


# --- working periods ----------------------------------------------------------------------

@pytest.mark.parametrize(("day", "start"), [
    (date(2027, 3, 12), utc(3, 12, 14)),   # Friday, EST
    (date(2027, 3, 15), utc(3, 15, 13)),   # Monday after spring-forward, EDT
    (date(2027, 11, 8), utc(11, 8, 14)),   # Monday after fall-back, EST
])
def test_new_york_nine_to_five_across_daylight_saving(day, start):
    assert working_periods(WEEKDAYS_9_TO_5, [], NEW_YORK, days(day)) == [
        Period(start, start + timedelta(hours=8))]


def test_a_week_in_new_york_has_five_periods_and_a_free_weekend():
    periods = working_periods(WEEKDAYS_9_TO_5, [], NEW_YORK, days(date(2027, 3, 8), 7))
    assert [p.start.day for p in periods] == [8, 9, 10, 11, 12]


def test_a_lunch_break_gives_two_periods_and_touching_intervals_merge():
    rules = [WeeklyRule(0, time(9), time(12)), WeeklyRule(0, time(13), time(15)),
             WeeklyRule(0, time(15), time(17))]
    assert working_periods(rules, [], "UTC", days(date(2027, 3, 15))) == [
        Period(utc(3, 15, 9), utc(3, 15, 12)), Period(utc(3, 15, 13), utc(3, 15, 17))]


def test_end_of_day_joins_the_next_morning():
    rules = [WeeklyRule(0, time(22), time.max), WeeklyRule(1, time(0), time(2))]
    assert working_periods(rules, [], "UTC", days(date(2027, 3, 15), 2)) == [
        Period(utc(3, 15, 22), utc(3, 16, 2))]


def test_an_override_closes_a_day():
    closed = DayOverride(date(2027, 3, 16))
    periods = working_periods(WEEKDAYS_9_TO_5, [closed], NEW_YORK, days(date(2027, 3, 15), 3))
    assert [p.start.day for p in periods] == [15, 17]


def test_an_override_replaces_the_hours_of_a_day_and_can_open_a_weekend():
    override = DayOverride(date(2027, 3, 15), ((time(10), time(12)), (time(13), time(14))))
    saturday = DayOverride(date(2027, 3, 20), ((time(8), time(9)),))
    periods = working_periods(WEEKDAYS_9_TO_5, [override, saturday], NEW_YORK,
                              days(date(2027, 3, 15), 6))
    assert periods[:2] == [Period(utc(3, 15, 14), utc(3, 15, 16)),
                           Period(utc(3, 15, 17), utc(3, 15, 18))]
    assert periods[-1] == Period(utc(3, 20, 12), utc(3, 20, 13))
    assert len(periods) == 2 + 4 + 1


def test_rules_apply_from_their_effective_date_but_overrides_always():
    early = DayOverride(date(2027, 3, 15), ((time(7), time(8)),))
    periods = working_periods(WEEKDAYS_9_TO_5, [early], "UTC", days(date(2027, 3, 15), 5),
                              effective_from=date(2027, 3, 18))
    assert periods == [Period(utc(3, 15, 7), utc(3, 15, 8)),
                       Period(utc(3, 18, 9), utc(3, 18, 17)), Period(utc(3, 19, 9), utc(3, 19, 17))]


def test_periods_are_clipped_to_the_window():
    window = Period(utc(3, 15, 15), utc(3, 16, 15))
    assert working_periods(WEEKDAYS_9_TO_5, [], NEW_YORK, window) == [
        Period(utc(3, 15, 15), utc(3, 15, 21)), Period(utc(3, 16, 13), utc(3, 16, 15))]


def test_an_empty_window_has_no_periods():
    assert working_periods(WEEKDAYS_9_TO_5, [], NEW_YORK, Period(utc(3, 15, 15), utc(3, 15, 15))) \
        == []


def test_local_dates_far_from_utc_are_found():
    rules = [WeeklyRule(d, time(9), time(10)) for d in range(7)]
    # 09:00 on the 16th at UTC+14 is 19:00Z on the 15th.
    assert working_periods(rules, [], "Pacific/Kiritimati", days(date(2027, 3, 15))) == [
        Period(utc(3, 15, 19), utc(3, 15, 20))]


@pytest.mark.parametrize(("start", "end", "expected"), [
    (time(1, 30), time(2, 30), [Period(utc(3, 14, 6, 30), utc(3, 14, 7, 30))]),
    (time(2, 30), time(3, 30), []),   # collapses: both ends are 03:30 EDT
    (time(2, 30), time(3, 15), []),   # would invert: 03:30 EDT to 03:15 EDT
    (time(2, 0), time(3, 0), []),
])
def test_spring_forward_gap_times_never_crash_or_invert(start, end, expected):
    rules = [WeeklyRule(6, start, end)]
    assert working_periods(rules, [], NEW_YORK, days(date(2027, 3, 14))) == expected


def test_intervals_overlapping_through_the_gap_are_merged():
    rules = [WeeklyRule(6, time(2), time(2, 45)), WeeklyRule(6, time(3), time(4))]
    assert working_periods(rules, [], NEW_YORK, days(date(2027, 3, 14))) == [
        Period(utc(3, 14, 7), utc(3, 14, 8))]


def test_fall_back_repeated_hour_gives_one_period_without_overlap():
    rules = [WeeklyRule(6, time(0), time(1, 30)), WeeklyRule(6, time(1, 30), time(3))]
    # 00:00 EDT to 03:00 EST is four hours of work.
    assert working_periods(rules, [], NEW_YORK, days(date(2027, 11, 7))) == [
        Period(utc(11, 7, 4), utc(11, 7, 8))]


# --- subtract -----------------------------------------------------------------------------

def test_subtract_cuts_holes_and_keeps_touching_edges():
    work = [Period(utc(1, 1, 9), utc(1, 1, 17))]
    blocked = [Period(utc(1, 1, 12), utc(1, 1, 13)), Period(utc(1, 1, 8), utc(1, 1, 9)),
               Period(utc(1, 1, 16), utc(1, 1, 17)), Period(utc(1, 1, 12, 30), utc(1, 1, 14))]
    assert subtract(work, blocked) == [Period(utc(1, 1, 9), utc(1, 1, 12)),
                                       Period(utc(1, 1, 14), utc(1, 1, 16))]


def test_subtract_sorts_and_drops_fully_blocked_and_empty_periods():
    work = [Period(utc(1, 2, 9), utc(1, 2, 10)), Period(utc(1, 1, 9), utc(1, 1, 10)),
            Period(utc(1, 3, 9), utc(1, 3, 9))]
    blocked = [Period(utc(1, 2, 8), utc(1, 2, 11))]
    assert subtract(work, blocked) == [Period(utc(1, 1, 9), utc(1, 1, 10))]
    assert subtract(work, []) == sorted(work[:2])
    assert subtract([], blocked) == []


# --- free slots ---------------------------------------------------------------------------

def test_slots_fill_a_period_on_the_step_and_fit_the_duration():
    found = slots([Period(utc(1, 1, 9), utc(1, 1, 10, 10))])
    assert local_hhmm(found, "UTC") == ["09:00", "09:15", "09:30"]


def test_slots_avoid_blocked_time_and_respect_not_before():
    work = [Period(utc(1, 1, 9), utc(1, 1, 12))]
    blocked = [Period(utc(1, 1, 10), utc(1, 1, 10, 30))]
    found = slots(work, blocked=blocked, not_before=utc(1, 1, 9, 1))
    assert local_hhmm(found, "UTC") == ["09:15", "09:30", "10:30", "10:45", "11:00", "11:15",
                                        "11:30"]


def test_a_slot_never_spans_two_working_periods():
    work = [Period(utc(1, 1, 9), utc(1, 1, 9, 45)), Period(utc(1, 1, 9, 45), utc(1, 1, 10))]
    assert local_hhmm(slots(work), "UTC") == ["09:00", "09:15"]


def test_new_york_slots_start_at_nine_local_after_spring_forward():
    work = working_periods(WEEKDAYS_9_TO_5, [], NEW_YORK, days(date(2027, 3, 15)))
    found = slots(work, NEW_YORK)
    assert found[0] == utc(3, 15, 13)
    assert found[-1] == utc(3, 15, 20, 30)
    assert len(found) == 31


@pytest.mark.parametrize(("zone", "first"), [
    ("Asia/Kolkata", utc(3, 15, 3, 30)),     # +05:30
    ("Asia/Kathmandu", utc(3, 15, 3, 15)),   # +05:45
])
def test_steps_align_to_the_local_quarter_hour_in_odd_offsets(zone, first):
    work = working_periods(WEEKDAYS_9_TO_5, [], zone, days(date(2027, 3, 14), 2))
    found = slots(work, zone)
    assert found[0] == first
    assert {i.astimezone(ZoneInfo(zone)).minute for i in found} == {0, 15, 30, 45}
    late = slots(work, zone, not_before=first + 7 * MIN)
    assert local_hhmm(late[:2], zone) == ["09:15", "09:30"]


def test_unaligned_working_edges_round_inward_in_local_time():
    work = [Period(utc(3, 15, 3, 20), utc(3, 15, 5))]   # 09:05 to 10:45 in Kathmandu
    assert local_hhmm(slots(work, "Asia/Kathmandu"), "Asia/Kathmandu") == [
        "09:15", "09:30", "09:45", "10:00", "10:15"]


def test_no_slot_in_the_spring_forward_gap_and_none_duplicated():
    work = working_periods([WeeklyRule(6, time(0), time(6))], [], NEW_YORK,
                           days(date(2027, 3, 14)))
    found = slots(work, NEW_YORK, step=30)
    assert local_hhmm(found, NEW_YORK) == ["00:00", "00:30", "01:00", "01:30", "03:00", "03:30",
                                           "04:00", "04:30", "05:00", "05:30"]


def test_a_gap_time_on_the_step_is_skipped_not_shifted_off_the_step():
    work = working_periods([WeeklyRule(6, time(0), time(6))], [], NEW_YORK,
                           days(date(2027, 3, 14)))
    # 02:15 does not exist; moving it to 03:15 EDT would put a slot off the 45-minute grid.
    assert local_hhmm(slots(work, NEW_YORK, duration=45, step=45), NEW_YORK) == [
        "00:00", "00:45", "01:30", "03:00", "03:45", "04:30", "05:15"]


def test_the_repeated_fall_back_hour_has_slots_twice_at_distinct_instants():
    work = working_periods([WeeklyRule(6, time(0), time(3))], [], NEW_YORK,
                           days(date(2027, 11, 7)))
    found = slots(work, NEW_YORK, step=30)
    assert found == [utc(11, 7, 4) + n * 30 * MIN for n in range(8)]
    assert local_hhmm(found, NEW_YORK) == ["00:00", "00:30", "01:00", "01:30", "01:00", "01:30",
                                           "02:00", "02:30"]


def test_hourly_steps_stay_on_the_local_hour_through_a_dst_day():
    work = [Period(utc(3, 14, 5), utc(3, 15, 4))]   # the whole 23-hour local day
    found = slots(work, NEW_YORK, duration=60, step=60)
    assert [i.astimezone(ZoneInfo(NEW_YORK)).hour for i in found] == [
        h for h in range(24) if h != 2]


def test_a_step_that_does_not_divide_the_day_restarts_at_local_midnight():
    work = [Period(utc(1, 1, 23), utc(1, 2, 1))]
    found = slots(work, duration=10, step=25)
    assert local_hhmm(found, "UTC") == ["23:20", "23:45", "00:00", "00:25", "00:50"]


def test_slots_accept_a_zoneinfo_and_refuse_bad_arguments():
    work = [Period(utc(1, 1, 9), utc(1, 1, 10))]
    assert free_slots(work, [], duration=30 * MIN, step=30 * MIN, zone=ZoneInfo("UTC"),
                      not_before=EPOCH) == [utc(1, 1, 9), utc(1, 1, 9, 30)]
    with pytest.raises(ValueError, match="positive"):
        slots(work, step=0)
    with pytest.raises(ValueError, match="positive"):
        slots(work, duration=0)
    with pytest.raises(ValueError, match="aware"):
        slots(work, not_before=datetime(2027, 1, 1))


# Versions ---------------------------------------------------------------------------------

KIRITIMATI, MIDWAY = ZoneInfo("Pacific/Kiritimati"), ZoneInfo("Pacific/Pago_Pago")
NINE_TO_FIVE = tuple(WeeklyRule(d, time(9), time(17)) for d in range(7))


def test_the_latest_version_started_governs_a_date():
    versions = [HoursVersion(start, ZoneInfo("UTC"), ())
                for start in (None, date(2027, 3, 1), date(2027, 4, 1))]
    assert governing(versions, date(1999, 1, 1)) is versions[0]
    assert governing(versions, date(2027, 3, 31)) is versions[1]
    assert governing(versions, date(2027, 4, 1)) is versions[2]
    assert governing(versions[1:], date(2027, 2, 28)) is None


def test_before_the_first_version_no_hours_but_its_zone_reads_overrides():
    version = HoursVersion(date(2027, 3, 3), ZoneInfo("Asia/Tokyo"), NINE_TO_FIVE)
    override = DayOverride(date(2027, 3, 1), ((time(8), time(9)),))
    periods = versioned_working_periods([version], [override], "America/New_York",
                                        Period(utc(2, 28), utc(3, 4)))
    assert periods == [Period(utc(2, 28, 23), utc(3, 1)),   # 08:00 JST
                       Period(utc(3, 3), utc(3, 3, 8))]     # 09:00 JST


def test_zones_26_hours_apart_keep_their_changes_in_order():
    # Midway's date 1 March starts after Kiritimati's 2 March does: no going back in time.
    versions = [HoursVersion(None, ZoneInfo("UTC"), ()),
                HoursVersion(date(2027, 3, 1), MIDWAY, NINE_TO_FIVE),
                HoursVersion(date(2027, 3, 2), KIRITIMATI, NINE_TO_FIVE)]
    (always, _), (midway, _), (since, zone) = zone_changes(versions, "Europe/Paris")
    assert (always, midway) == (None, utc(3, 1, 11))
    assert (since, zone) == (midway, KIRITIMATI)  # not 10:00, before Midway's change
    assert zone_at(versions, "UTC", utc(3, 1, 10, 30)) == ZoneInfo("UTC")
    assert zone_at([], "Europe/Paris", utc(3, 1)) == ZoneInfo("Europe/Paris")


def test_hours_moving_east_keep_the_old_grid_on_the_old_zones_last_date():
    # Kolkata's 14 January starts at 13:30 on New York's 13th: the rest of New York's
    # last date keeps New York's hour grid, and Kolkata's first morning its own.
    versions = [HoursVersion(None, ZoneInfo("America/New_York"), NINE_TO_FIVE),
                HoursVersion(date(2027, 1, 14), ZoneInfo("Asia/Kolkata"), NINE_TO_FIVE)]
    window = Period(utc(1, 13), utc(1, 15))
    owned = owned_periods(versions, [], "UTC", window)
    slots = versioned_free_slots(owned, [], duration=timedelta(hours=1),
                                 step=timedelta(hours=1), not_before=utc(1, 1))
    new_york = [s.astimezone(ZoneInfo("America/New_York")).strftime("%d %H:%M")
                for s in slots if s < utc(1, 13, 22)]
    kolkata = [s.astimezone(ZoneInfo("Asia/Kolkata")).strftime("%d %H:%M")
               for s in slots if s >= utc(1, 13, 22)]
    assert new_york == [f"13 {h:02}:00" for h in range(9, 17)]
    assert kolkata == [f"14 {h:02}:00" for h in range(9, 17)]
    assert owner_zone(owned, utc(1, 13, 20)) == ZoneInfo("America/New_York")  # 15:00 NY
    assert owner_zone(owned, utc(1, 14, 4)) == ZoneInfo("Asia/Kolkata")  # 09:30 IST
    assert owner_zone(owned, utc(1, 14, 12)) is None  # nobody works at 17:30 IST

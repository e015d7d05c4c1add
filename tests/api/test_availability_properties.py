"""Properties of Get Available Slots through HTTP and the database, across zones and DST.

Each example makes a new provider in a random zone (odd offsets, a 30-minute DST, clocks
changing at midnight, no DST, far west of UTC), gives it random weekly rules, maybe date
overrides, appointments in every status and leave requests in every state, then asks
GET /availability and GET /providers/{id}/schedule for a window of one to seven days,
often around one of the zone's clock changes. The slots must be sorted, unique, inside one
working period of the schedule and inside the window, clear of its leave and appointments,
on the local step grid, and exactly the slots a brute force over every UTC minute of the
window finds. The oracle converts local times with zoneinfo itself (fold=0: a time in a
spring-forward gap moves forward, a repeated time is its first occurrence), independently
of vitalbridge.schedule.calendar.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.appointment_factories import AppointmentFactory
from tests.conftest import bearer
from tests.factories import dispatch_as_system
from tests.patient_factories import PatientFactory
from tests.provider_factories import ProviderFactory
from tests.schedule_factories import LeaveRequestFactory, WorkingHoursFactory
from vitalbridge.appointment.messages import (
    CancelAppointment,
    CheckInAppointment,
    CompleteAppointment,
)
from vitalbridge.schedule.calendar import WeeklyRule
from vitalbridge.schedule.messages import (
    ApproveLeaveRequest,
    CancelLeaveRequest,
    RejectLeaveRequest,
    SetDateOverride,
)

# Odd offsets (+5:45, -3:30, +12:45), a 30-minute DST (Lord Howe), clocks changing at
# midnight (Santiago), and zones far west of UTC, where a UTC date holds two local dates.
ZONES = ["America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kathmandu",
         "America/St_Johns", "Pacific/Chatham", "UTC", "America/Santiago", "Pacific/Honolulu"]
MINUTE = timedelta(minutes=1)
DAY_MINUTES = 24 * 60
# Future dates (bookable, no minimum-notice effect) for as long as this suite lives.
FIRST = max(date(2027, 1, 1), date.today() + timedelta(days=7))
LAST = max(date(2028, 12, 31), FIRST + timedelta(days=730))
ACTIVE = ("booked", "checked_in", "completed")
# A new provider per example keeps examples apart inside the one tenant fixture.
PROPERTY = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _transitions(zone: str) -> list[datetime]:
    """The UTC instants in FIRST..LAST at which the zone's offset changes (to the minute)."""
    tz = ZoneInfo(zone)

    def offset(at: datetime) -> timedelta | None:
        return at.astimezone(tz).utcoffset()

    found = []
    for n in range((LAST - FIRST).days):
        midnight = datetime.combine(FIRST + timedelta(days=n), time(), UTC)
        old = offset(midnight)
        if old == offset(midnight + timedelta(days=1)):
            continue
        low, high = 0, DAY_MINUTES  # the old offset at low minutes past, the new at high
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if offset(midnight + middle * MINUTE) == old \
                else (low, middle)
        found.append(midnight + high * MINUTE)
    return found


TRANSITIONS = {zone: _transitions(zone) for zone in ZONES}
TRANSITION_DAYS = {zone: sorted({t.astimezone(ZoneInfo(zone)).date() for t in changes})
                   for zone, changes in TRANSITIONS.items()}
DST_ZONES = [zone for zone in ZONES if TRANSITIONS[zone]]


# --- what an example is made of ---------------------------------------------------------

@dataclass(frozen=True)
class Booking:
    """An appointment: minutes from the window's start, length, final status."""

    offset: int
    minutes: int
    status: str


@dataclass(frozen=True)
class Leave:
    """A leave request: minutes from the window's start, length, final state."""

    offset: int
    minutes: int
    state: str  # approved, pending, rejected, withdrawn (approved, then cancelled)


@dataclass(frozen=True)
class Case:
    """One provider's schedule and one availability question about it."""

    zone: str
    start: datetime  # UTC, on a whole minute
    minutes: int  # window length
    rules: tuple[tuple[int, int, int], ...]  # (weekday, start quarter, end quarter)
    effective_from: date | None
    overrides: tuple[tuple[date, tuple[tuple[int, int], ...]], ...]
    bookings: tuple[Booking, ...]
    leaves: tuple[Leave, ...]
    duration: int
    step: int

    @property
    def end(self) -> datetime:
        """The window's end."""
        return self.start + self.minutes * MINUTE


def _wall(quarter: int) -> time:
    """The local time of a quarter-hour index; 96 is the end of the day (24:00)."""
    return time.max if quarter == 96 else time(quarter // 4, quarter % 4 * 15)


def quarters_near(change: datetime, tz: ZoneInfo) -> list[int]:
    """Local quarter hours (96: 24:00) within 30 minutes of the clock change's wall times,
    the skipped or repeated ones included."""
    before = (change - MINUTE).astimezone(tz).replace(tzinfo=None)
    after = change.astimezone(tz).replace(tzinfo=None)
    wall, last = min(before, after) - 30 * MINUTE, max(before, after) + 30 * MINUTE
    near = set()
    while wall <= last:
        near.add((wall.hour * 60 + wall.minute) // 15)
        wall += 15 * MINUTE
    return sorted(near | ({96} if 0 in near else set()))


NIGHT = st.integers(4, 16)  # 01:00-04:00: where most of these zones change clocks


@st.composite
def day_intervals(draw: st.DrawFn, near: st.SearchStrategy[int] = NIGHT, weight: int = 1
                  ) -> tuple[tuple[int, int], ...]:
    """Sorted local quarter-hour intervals of one day, disjoint but possibly touching.

    ``weight`` in ``weight + 1`` edges are drawn from ``near``, the others from the whole day.
    """
    edge = st.one_of(st.integers(0, 96), *[near] * weight)
    edges = sorted(set(draw(st.lists(edge, max_size=6))))
    if draw(st.integers(0, 3)) == 0:  # a whole day: every grid instant of it counts
        return ((0, 96),)
    keep = draw(st.lists(st.booleans(), min_size=max(len(edges) - 1, 0),
                         max_size=max(len(edges) - 1, 0)))
    # Consecutive edge pairs never overlap; two kept neighbours touch.
    return tuple((a, b) for (a, b), kept in zip(pairwise(edges), keep, strict=True) if kept)


@st.composite
def cases(draw: st.DrawFn, on_transition: bool = False) -> Case:
    """A random case; with ``on_transition`` the window holds a clock change for sure."""
    zone = draw(st.sampled_from(DST_ZONES if on_transition else ZONES))
    tz = ZoneInfo(zone)
    near, weight = NIGHT, 1
    if on_transition:
        change = draw(st.sampled_from(TRANSITIONS[zone]))
        # Rule edges in the skipped or repeated hour are where fold and gaps matter.
        near, weight = st.sampled_from(quarters_near(change, tz)), 3
        start = change - draw(st.integers(60, DAY_MINUTES - 60)) * MINUTE
        day = start.astimezone(tz).date()
    else:
        changing = st.sampled_from(TRANSITION_DAYS[zone]) if TRANSITIONS[zone] else st.nothing()
        day = draw(changing | st.dates(FIRST, LAST)) + timedelta(days=draw(st.integers(-2, 1)))
        # Local or UTC midnight: far from UTC a UTC day straddles two local dates.
        anchor = draw(st.sampled_from([tz, UTC]))
        start = datetime.combine(day, time(), anchor).astimezone(UTC) + MINUTE * draw(
            st.just(0) | st.integers(-DAY_MINUTES // 2, DAY_MINUTES // 2))
    minutes = draw(st.integers(DAY_MINUTES, 7 * DAY_MINUTES)
                   | st.integers(1, 7).map(lambda n: n * DAY_MINUTES))
    rules = tuple((weekday, a, b) for weekday in range(7)
                  for a, b in draw(day_intervals(near, weight)))
    effective = draw(st.none() | st.integers(-1, 4).map(lambda n: day + timedelta(days=n)))
    override_days = draw(st.lists(st.integers(-1, 7), unique=True, max_size=2))
    overrides = tuple((day + timedelta(days=n), draw(day_intervals())) for n in override_days)
    bookings = tuple(draw(st.lists(st.builds(
        Booking, st.integers(-240, minutes + 60), st.integers(5, 8 * 60),
        st.sampled_from([*ACTIVE, "booked", "cancelled"])), min_size=1, max_size=5)))
    leaves = tuple(draw(st.lists(st.builds(
        Leave, st.integers(-DAY_MINUTES, minutes), st.integers(1, 2 * DAY_MINUTES),
        st.sampled_from(["approved", "approved", "pending", "rejected", "withdrawn"])),
        min_size=1, max_size=2)))
    return Case(zone=zone, start=start, minutes=minutes, rules=rules, effective_from=effective,
                overrides=overrides, bookings=bookings, leaves=leaves,
                duration=draw(st.sampled_from([15, 30, 45, 60, 90])),
                step=draw(st.sampled_from([5, 10, 15, 30, 60])))


# --- making it through the command bus --------------------------------------------------

def make_provider(app, tenant, case: Case):
    """A new provider with the case's schedule; answers it and the appointments kept."""
    with app.app_context():
        provider = ProviderFactory(tenant_id=tenant.id, timezone=case.zone)
        WorkingHoursFactory(tenant_id=tenant.id, provider_id=provider.id, timezone=case.zone,
                            effective_from=case.effective_from,
                            rules=tuple(WeeklyRule(d, _wall(a), _wall(b))
                                        for d, a, b in case.rules))
        for day, intervals in case.overrides:
            dispatch_as_system(SetDateOverride(
                provider_id=provider.id, day=day,
                intervals=tuple((_wall(a), _wall(b)) for a, b in intervals)), tenant.id)
        kept = book_all(tenant, provider.id, case)
        for leave in case.leaves:
            take_leave(tenant, provider.id, case, leave)
    return provider, kept


def book_all(tenant, provider_id, case: Case) -> list[tuple[str, datetime, datetime]]:
    """Book each appointment that does not overlap an active one already made (cancelled
    ones do not count); answers (id, start, end) of the active ones."""
    patient = PatientFactory(tenant_id=tenant.id)
    kept: list[tuple[str, datetime, datetime, str]] = []
    for booking in case.bookings:
        start = case.start + booking.offset * MINUTE
        end = start + booking.minutes * MINUTE
        if any(s < end and start < e for _, s, e, status in kept if status in ACTIVE):
            continue
        made = AppointmentFactory(tenant_id=tenant.id, provider_id=provider_id,
                                  patient_id=patient.id, start=start, end=end)
        for command in _steps_to(booking.status, made.id):
            dispatch_as_system(command, tenant.id)
        kept.append((str(made.id), start, end, booking.status))
    return [(i, s, e) for i, s, e, status in kept if status in ACTIVE]


def _steps_to(status, appointment_id):
    if status == "cancelled":
        return [CancelAppointment(appointment_id=appointment_id, reason="changed plans")]
    steps = {"booked": [], "checked_in": [CheckInAppointment],
             "completed": [CheckInAppointment, CompleteAppointment]}[status]
    return [step(appointment_id=appointment_id) for step in steps]


def take_leave(tenant, provider_id, case: Case, leave: Leave) -> None:
    """Submit the leave request and bring it to its state."""
    start = case.start + leave.offset * MINUTE
    made = LeaveRequestFactory(tenant_id=tenant.id, provider_id=provider_id, start=start,
                               end=start + leave.minutes * MINUTE)
    if leave.state in ("approved", "withdrawn"):
        dispatch_as_system(ApproveLeaveRequest(leave_id=made.id), tenant.id)
    if leave.state == "withdrawn":
        dispatch_as_system(CancelLeaveRequest(leave_id=made.id), tenant.id)
    if leave.state == "rejected":
        dispatch_as_system(RejectLeaveRequest(leave_id=made.id), tenant.id)


# --- the oracle: every minute of the window ---------------------------------------------

class Minutes:
    """Boolean marks on every UTC minute of the case's window."""

    def __init__(self, case: Case) -> None:
        self.case = case
        self.marks = bytearray(case.minutes)

    def mark(self, start: datetime, end: datetime) -> None:
        """Mark the minutes of ``[start, end)`` that lie in the window."""
        first = max((start - self.case.start) // MINUTE, 0)
        last = min(-(-(end - self.case.start) // MINUTE), self.case.minutes)
        if first < last:  # an empty slice assignment would insert or delete marks
            self.marks[first:last] = b"\x01" * (last - first)


def local_instant(day: date, quarter: int, tz: ZoneInfo) -> datetime:
    """The UTC instant of a local quarter hour of ``day`` (96 is the next midnight), fold=0."""
    wall = datetime.combine(day, time()) + quarter * timedelta(minutes=15)
    return wall.replace(tzinfo=tz, fold=0).astimezone(UTC)


def expected_working(case: Case) -> Minutes:
    """The minutes the weekly rules and overrides make working hours."""
    tz, working = ZoneInfo(case.zone), Minutes(case)
    by_day = dict(case.overrides)
    first = case.start.astimezone(tz).date() - timedelta(days=2)
    for n in range(case.minutes // DAY_MINUTES + 5):
        day = first + timedelta(days=n)
        ruled = case.effective_from is None or day >= case.effective_from
        weekly = tuple((a, b) for d, a, b in case.rules if d == day.weekday() and ruled)
        for a, b in by_day.get(day, weekly):
            working.mark(local_instant(day, a, tz), local_instant(day, b, tz))
    return working


def expected_slots(case: Case, kept) -> list[datetime]:
    """Every minute of the window where a free, fitting, locally aligned slot starts."""
    tz, working, blocked = ZoneInfo(case.zone), expected_working(case), Minutes(case)
    for _, start, end in kept:
        blocked.mark(start, end)
    for leave in case.leaves:
        if leave.state == "approved":
            start = case.start + leave.offset * MINUTE
            blocked.mark(start, start + leave.minutes * MINUTE)
    free = [0]
    for work, busy in zip(working.marks, blocked.marks, strict=True):
        free.append(free[-1] + int(work and not busy))
    found = []
    for m in range(case.minutes - case.duration + 1):
        at = case.start + m * MINUTE
        if free[m + case.duration] - free[m] == case.duration and on_grid(at, tz, case.step):
            found.append(at)
    return found


def on_grid(instant: datetime, tz: ZoneInfo, step: int) -> bool:
    """Whether the local wall clock of ``instant`` is a multiple of ``step`` past midnight."""
    local = instant.astimezone(tz)
    return (local.hour * 60 + local.minute) % step == 0 and local.second == 0


# --- the properties ---------------------------------------------------------------------

def z(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def ask_api(client, tenant, provider_id, case: Case) -> tuple[dict, dict]:
    """The availability answer and the schedule view of the case's window (both 200)."""
    window = {"from": z(case.start), "to": z(case.end)}
    free = client.get("/api/v1/availability", headers=bearer(tenant.admin_key), query_string={
        **window, "provider_id": str(provider_id), "duration": case.duration,
        "step": case.step})
    assert free.status_code == 200, free.json
    schedule = client.get(f"/api/v1/providers/{provider_id}/schedule",
                          headers=bearer(tenant.admin_key), query_string=window)
    assert schedule.status_code == 200, schedule.json
    return free.json, schedule.json


def spans(items, kind):
    return [(instant(i["start"]), instant(i["end"])) for i in items if i["kind"] == kind]


def check(app, client, tenant, case: Case) -> None:
    """Every property of one case."""
    provider, kept = make_provider(app, tenant, case)
    body, schedule = ask_api(client, tenant, provider.id, case)
    (answer,) = body["providers"]
    assert (answer["provider_id"], answer["timezone"]) == (str(provider.id), case.zone)
    assert (body["from"], body["to"], body["not_before"]) == (z(case.start), z(case.end),
                                                              z(case.start))
    assert (body["duration"], body["step"]) == (case.duration, case.step)
    assert_schedule_is_the_case(schedule, case, kept)
    assert_slots_fit_the_schedule(answer["slots"], schedule, case)
    assert answer["slots"] == [z(s) for s in expected_slots(case, kept)]


def assert_schedule_is_the_case(schedule, case: Case, kept) -> None:
    """The schedule view holds the expected working minutes, merged, and what blocks them."""
    # The slots are checked against this view below: make sure it is right first.
    working = spans(schedule["items"], "working")
    assert all(a < b for a, b in working)
    assert all(a[1] < b[0] for a, b in pairwise(working))  # merged: never touching
    seen = Minutes(case)
    for start, end in working:
        seen.mark(start, end)
    assert seen.marks == expected_working(case).marks
    assert sorted(i["appointment_id"] for i in schedule["items"] if i["kind"] == "appointment") \
        == sorted(i for i, s, e in kept if s < case.end and case.start < e)
    approved = sum(1 for leave in case.leaves if leave.state == "approved"
                   and leave.offset < case.minutes and leave.offset + leave.minutes > 0)
    assert len(spans(schedule["items"], "leave")) == approved


def assert_slots_fit_the_schedule(answered, schedule, case: Case) -> None:
    """Sorted, unique, in the window, in one working period, clear of leave and
    appointments, on the local step grid."""
    tz, duration = ZoneInfo(case.zone), case.duration * MINUTE
    slots = [instant(s) for s in answered]
    working = spans(schedule["items"], "working")
    busy = spans(schedule["items"], "leave") + spans(schedule["items"], "appointment")
    assert slots == sorted(set(slots))
    for slot in slots:
        assert case.start <= slot, z(slot)
        assert slot + duration <= case.end, z(slot)
        assert any(a <= slot and slot + duration <= b for a, b in working), z(slot)
        assert not any(a < slot + duration and slot < b for a, b in busy), z(slot)
        assert on_grid(slot, tz, case.step), z(slot)


@settings(PROPERTY, max_examples=40)
@given(case=cases())
def test_slots_are_exactly_the_free_aligned_fitting_starts(app, client, tenant, case):
    check(app, client, tenant, case)


@settings(PROPERTY, max_examples=40)
@given(case=cases(on_transition=True))
def test_slots_around_clock_changes_are_neither_missing_nor_doubled(app, client, tenant,
                                                                     case):
    check(app, client, tenant, case)

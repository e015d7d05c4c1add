"""The utilization report through HTTP: working minutes (hours, overrides, leave), booked
minutes cut at local midnight, counts, DST, zones, pages over providers, tenants, roles,
bad arguments, and a cost in SQL statements that does not grow with the providers."""

import itertools
import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from tests.appointment_factories import AppointmentFactory, move_to, next_monday
from tests.conftest import bearer, data_reads
from tests.factories import ApiKeyFactory, dispatch_as_system
from tests.patient_factories import PatientFactory
from tests.provider_factories import ProviderFactory
from tests.schedule_factories import LeaveRequestFactory, WorkingHoursFactory
from vitalbridge.appointment.messages import (
    CancelAppointment,
    CheckInAppointment,
    CompleteAppointment,
    MarkNoShow,
)
from vitalbridge.messaging.messages import Role
from vitalbridge.provider.messages import DeactivateProvider
from vitalbridge.reporting.utilization import daily_usage, local_midnights, utc_cover
from vitalbridge.schedule.calendar import WeeklyRule

URL = "/api/v1/reports/utilization"
NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
ALL_DAY = tuple(WeeklyRule(day, time(0), time.max) for day in range(7))
# A past week (Monday 3 to Sunday 9 March 2025; New York springs forward on the 9th):
# fixed dates keep the expected minutes fixed too.
MONDAY = date(2025, 3, 3)
# Where appointments bound for the past are booked first (see the ``book`` fixture).
PARKING = next_monday(weeks_ahead=3).replace(tzinfo=UTC)


def local(day, hour, minute=0, zone=NY):
    return datetime.combine(day, time(hour, minute), tzinfo=zone)


def report(client, key, first, last, **params):
    response = client.get(URL, headers=bearer(key), query_string={
        "from": str(first), "to": str(last), **params})
    assert response.status_code == 200, response.json
    return response.json


def days_of(item, *fields):
    """``{date: value}`` of one field, or ``{date: (values...)}`` of several."""
    def pick(day):
        return day[fields[0]] if len(fields) == 1 else tuple(day[f] for f in fields)
    return {day["date"]: pick(day) for day in item["days"]}


def only(body):
    (item,) = body["items"]
    return item


def key_for(app, tenant, role, **kwargs):
    with app.app_context():
        return ApiKeyFactory(tenant_id=tenant.id, role=role, **kwargs).key


@pytest.fixture
def make_provider(app, tenant):
    def make(rules=None, hours_zone=None, tenant_id=None, **kwargs):
        with app.app_context():
            made = ProviderFactory(tenant_id=tenant_id or tenant.id, **kwargs)
            if rules is not False:
                WorkingHoursFactory(tenant_id=tenant_id or tenant.id, provider_id=made.id,
                                    timezone=hours_zone or made.timezone,
                                    **({"rules": rules} if rules else {}))
            return made
    return make


@pytest.fixture
def book(app, tenant, owner_engine):
    """book(provider, start, minutes=30) -> appointment id, at any time, past included.

    A past start cannot be booked (the in-the-past rule): the appointment is booked in a
    free future slot first, then moved to its real period with an owner UPDATE. Each
    gets its own patient, so patients never overlap.
    """
    parking_slots = itertools.count()

    def make(provider, start, minutes=30):
        start = start.astimezone(UTC)  # elapsed minutes: aware local arithmetic is wall time
        slot = PARKING + timedelta(hours=next(parking_slots))
        with app.app_context():
            patient = PatientFactory(tenant_id=tenant.id)
            made = AppointmentFactory(tenant_id=tenant.id, provider_id=provider.id,
                                      patient_id=patient.id, start=slot,
                                      end=slot + timedelta(minutes=minutes))
        move_to(owner_engine, made.id, start, minutes)
        return made.id

    return make


def step(app, tenant, *commands):
    """Move appointments along their lifecycle through the real command bus."""
    with app.app_context():
        for command in commands:
            dispatch_as_system(command, tenant.id)


# Working minutes ----------------------------------------------------------------------


def test_working_minutes_follow_hours_overrides_and_approved_leave(app, client, tenant,
                                                                   make_provider):
    provider = make_provider()  # New York, weekdays 09:00-17:00
    admin = bearer(tenant.admin_key)
    tuesday, wednesday, thursday, friday = (MONDAY + timedelta(days=n) for n in range(1, 5))
    assert client.put(f"/api/v1/providers/{provider.id}/overrides/{tuesday}", headers=admin,
                      json={"intervals": [{"start": "10:00", "end": "12:00"}]}).status_code == 200
    assert client.put(f"/api/v1/providers/{provider.id}/overrides/{wednesday}",
                      headers=admin, json={"closed": True}).status_code == 200
    with app.app_context():
        approved = LeaveRequestFactory(tenant_id=tenant.id, provider_id=provider.id,
                                       start=local(thursday, 13), end=local(thursday, 15))
        LeaveRequestFactory(tenant_id=tenant.id, provider_id=provider.id,  # stays pending
                            start=local(friday, 9), end=local(friday, 17))
    assert client.post(f"/api/v1/leave-requests/{approved.id}/approve",
                       headers=admin).status_code == 200

    item = only(report(client, tenant.admin_key, MONDAY, MONDAY + timedelta(days=6)))

    assert item["provider_id"] == str(provider.id)
    assert item["display_name"] == f"{provider.given_name} {provider.family_name}"
    assert (item["timezone"], item["active"]) == ("America/New_York", True)
    assert list(days_of(item, "working_minutes").values()) == [480, 120, 0, 360, 480, 0, 0]
    assert days_of(item, "utilization") == {str(MONDAY + timedelta(days=n)): 0.0 if n in
                                            (0, 1, 3, 4) else None for n in range(7)}
    assert item["totals"] == {"working_minutes": 1440, "booked_minutes": 0,
                              "appointments": 0, "cancellations": 0, "no_shows": 0,
                              "utilization": 0.0}


def test_a_provider_without_hours_works_only_its_overrides(client, tenant, make_provider):
    provider = make_provider(rules=False)
    assert client.put(f"/api/v1/providers/{provider.id}/overrides/{MONDAY}",
                      headers=bearer(tenant.admin_key),
                      json={"intervals": [{"start": "08:00", "end": "08:45"}]}
                      ).status_code == 200
    item = only(report(client, tenant.admin_key, MONDAY, MONDAY + timedelta(days=1)))
    assert days_of(item, "working_minutes") == {str(MONDAY): 45,
                                                str(MONDAY + timedelta(days=1)): 0}
    assert item["timezone"] == provider.timezone


# Appointments -------------------------------------------------------------------------


def test_hours_changed_later_leave_past_dates_as_they_were(app, client, tenant,
                                                          make_provider):
    provider = make_provider()  # New York, weekdays 09:00-17:00, from the beginning
    today = datetime.now(NY).date()
    # Up to the day before yesterday: Berlin's today may begin on New York's yesterday.
    last_week = (today - timedelta(days=8), today - timedelta(days=2))
    before = only(report(client, tenant.admin_key, *last_week))
    assert before["totals"]["working_minutes"] == 5 * 480
    with app.app_context():  # new hours (in another zone) from today on
        WorkingHoursFactory(tenant_id=tenant.id, provider_id=provider.id,
                            timezone="Europe/Berlin", rules=ALL_DAY)
    assert only(report(client, tenant.admin_key, *last_week)) == before
    ahead = only(report(client, tenant.admin_key, today + timedelta(days=1),
                        today + timedelta(days=7)))
    assert ahead["timezone"] == "Europe/Berlin"
    assert ahead["totals"]["working_minutes"] == 7 * 1440  # no DST change within a week
    planned = today + timedelta(days=30)  # and hours planned later change nothing now
    with app.app_context():
        WorkingHoursFactory(tenant_id=tenant.id, provider_id=provider.id,
                            timezone="Europe/Berlin", effective_from=planned, rules=())
    assert only(report(client, tenant.admin_key, *last_week)) == before
    assert days_of(only(report(client, tenant.admin_key, planned - timedelta(days=1),
                               planned)), "working_minutes") == {
        str(planned - timedelta(days=1)): 1440, str(planned): 0}


def test_booked_minutes_are_cut_at_local_midnight_and_statuses_counted(app, client, tenant,
                                                                       make_provider, book):
    provider = make_provider(rules=ALL_DAY)
    tuesday, wednesday = MONDAY + timedelta(days=1), MONDAY + timedelta(days=2)
    book(provider, local(MONDAY - timedelta(days=1), 23, 30), minutes=60)
    across_midnight = book(provider, local(tuesday, 23), minutes=90)
    checked_in = book(provider, local(wednesday, 9), minutes=45)
    cancelled = book(provider, local(wednesday, 10))
    no_show = book(provider, local(wednesday, 11))
    book(provider, local(wednesday, 12), minutes=20)  # stays booked
    step(app, tenant,
         CheckInAppointment(appointment_id=across_midnight),
         CompleteAppointment(appointment_id=across_midnight),
         CheckInAppointment(appointment_id=checked_in),
         CancelAppointment(appointment_id=cancelled, reason="patient called"),
         MarkNoShow(appointment_id=no_show))

    item = only(report(client, tenant.admin_key, MONDAY, wednesday))

    fields = ("working_minutes", "booked_minutes", "appointments", "cancellations",
              "no_shows", "utilization")
    assert days_of(item, *fields) == {
        # The half hour after midnight of the one that started on Sunday, not its count.
        str(MONDAY): (1440, 30, 0, 0, 0, 0.021),
        # 60 of the 90 minutes before midnight; counted on the day it starts.
        str(tuesday): (1440, 60, 1, 0, 0, 0.042),
        # 30 after midnight + 45 checked in + 20 booked; cancelled and no-show hold none.
        str(wednesday): (1440, 95, 2, 1, 1, 0.066),
    }
    assert item["totals"] == {"working_minutes": 4320, "booked_minutes": 185,
                              "appointments": 3, "cancellations": 1, "no_shows": 1,
                              "utilization": 0.043}


def test_appointments_count_on_the_providers_local_date(app, client, tenant, make_provider,
                                                        book):
    # 21:00 in New York is already the next day in UTC: the local date decides.
    provider = make_provider()
    book(provider, local(MONDAY, 21))
    item = only(report(client, tenant.admin_key, MONDAY, MONDAY + timedelta(days=1)))
    assert days_of(item, "appointments") == {str(MONDAY): 1,
                                             str(MONDAY + timedelta(days=1)): 0}


# Time zones ---------------------------------------------------------------------------


def test_dst_days_last_23_and_25_hours_in_each_providers_zone(client, tenant, make_provider):
    make_provider(rules=ALL_DAY, family_name="Adams")  # New York
    make_provider(rules=ALL_DAY, family_name="Brandt", timezone="Europe/Berlin")
    # Hours written in Berlin time for a provider of New York: Berlin's dates apply.
    make_provider(rules=ALL_DAY, family_name="Clark", hours_zone="Europe/Berlin")

    def working(first, last):
        body = report(client, tenant.admin_key, first, last)
        return {item["timezone"]: list(days_of(item, "working_minutes").values())
                for item in body["items"]}, [i["timezone"] for i in body["items"]]

    spring, zones = working(date(2025, 3, 8), date(2025, 3, 10))
    assert zones == ["America/New_York", "Europe/Berlin", "Europe/Berlin"]
    assert spring == {"America/New_York": [1440, 1380, 1440],
                      "Europe/Berlin": [1440, 1440, 1440]}
    assert working(date(2025, 3, 29), date(2025, 3, 31))[0]["Europe/Berlin"] == [
        1440, 1380, 1440]
    assert working(date(2025, 11, 1), date(2025, 11, 3))[0]["America/New_York"] == [
        1440, 1500, 1440]


def test_booked_minutes_of_a_25_hour_day(client, tenant, make_provider, book):
    provider = make_provider(rules=ALL_DAY)
    fall_back = date(2025, 11, 2)
    book(provider, local(fall_back, 0, 30), minutes=180)  # 00:30 EDT to 02:30 EST: 3 h
    item = only(report(client, tenant.admin_key, fall_back, fall_back))
    assert days_of(item, "booked_minutes", "utilization") == {str(fall_back): (180, 0.12)}


# Providers: pages, filters, deactivation, tenants -------------------------------------


def test_pages_over_providers_in_name_order(client, tenant, make_provider):
    names = ["Evans", "Baker", "Dunn", "Adams", "Cole"]
    made = {name: make_provider(family_name=name) for name in names}
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        body = report(client, tenant.admin_key, MONDAY, MONDAY, **params)
        seen += [item["provider_id"] for item in body["items"]]
        assert len(body["items"]) <= 2
        assert body["meta"]["as_of"].endswith("Z")
        pages, cursor = pages + 1, body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == [str(made[name].id) for name in sorted(names)]


def test_provider_id_limits_the_report_and_pages_too(client, tenant, make_provider):
    made = {name: make_provider(family_name=name) for name in ("Adams", "Baker", "Cole")}
    make_provider(family_name="Dunn")
    asked = [str(made[name].id) for name in ("Cole", "Adams", "Baker", "Cole")]
    first = report(client, tenant.admin_key, MONDAY, MONDAY, provider_id=asked, limit=2)
    second = report(client, tenant.admin_key, MONDAY, MONDAY, provider_id=asked, limit=2,
                    cursor=first["next_cursor"])
    assert [i["provider_id"] for i in first["items"] + second["items"]] == [
        str(made[name].id) for name in ("Adams", "Baker", "Cole")]
    assert second["next_cursor"] is None


def test_a_deactivated_provider_is_listed_and_works_no_more(app, client, tenant,
                                                            make_provider):
    retired = make_provider(family_name="Adams")
    make_provider(family_name="Baker")
    with app.app_context():
        dispatch_as_system(DeactivateProvider(provider_id=retired.id), tenant.id)
    future = next_monday().date()
    body = report(client, tenant.admin_key, future, future)
    assert [(i["active"], i["totals"]["working_minutes"]) for i in body["items"]] == [
        (False, 0), (True, 480)]
    past = report(client, tenant.admin_key, MONDAY, MONDAY, provider_id=str(retired.id))
    assert only(past)["totals"]["working_minutes"] == 480  # it worked before it left


def test_another_tenant_sees_none_of_it(app, client, tenant, other_tenant, make_provider,
                                        book):
    ours = make_provider()
    book(ours, local(MONDAY, 10))
    theirs = make_provider(tenant_id=other_tenant.id)
    body = report(client, other_tenant.admin_key, MONDAY, MONDAY)
    assert [i["provider_id"] for i in body["items"]] == [str(theirs.id)]
    assert only(body)["totals"]["appointments"] == 0
    response = client.get(URL, headers=bearer(other_tenant.admin_key), query_string={
        "from": str(MONDAY), "to": str(MONDAY), "provider_id": [str(theirs.id), str(ours.id)]})
    assert response.status_code == 422
    assert response.json["errors"]["provider_id"] == [f"No such provider: {ours.id}"]


def test_no_providers_is_an_empty_page(client, tenant):
    body = report(client, tenant.admin_key, MONDAY, MONDAY)
    assert (body["items"], body["next_cursor"]) == ([], None)


# Roles and arguments ------------------------------------------------------------------


def test_admins_only(app, client, tenant, make_provider):
    provider = make_provider()
    query = {"from": str(MONDAY), "to": str(MONDAY)}
    assert client.get(URL, query_string=query).status_code == 401
    assert client.get(URL, query_string=query,
                      headers=bearer("vb_not_a_key")).status_code == 401
    for role, extra in [(Role.STAFF, {}), (Role.READONLY, {}),
                        (Role.PROVIDER, {"provider_id": provider.id})]:
        response = client.get(URL, query_string=query,
                              headers=bearer(key_for(app, tenant, role, **extra)))
        assert response.status_code == 403, role
        assert response.content_type == "application/problem+json"


@pytest.mark.parametrize(("params", "field"), [
    ({"from": None}, "from"),
    ({"to": None}, "to"),
    ({"from": "2025-3-3"}, "from"),
    ({"to": "2025-03-03T00:00:00Z"}, "to"),
    ({"to": "2025-02-28"}, "to"),  # before from
    ({"to": "2025-06-03"}, "to"),  # 93 days
    ({"from": "1899-12-31"}, "from"),
    ({"provider_id": "not-a-uuid"}, "provider_id"),
    ({"provider_id": str(uuid.uuid4())}, "provider_id"),  # no such provider
    ({"limit": "0"}, "limit"),
    ({"limit": "201"}, "limit"),
    ({"cursor": "not-a-cursor"}, "cursor"),
    ({"cursor": "WyJhIiwiYiIsMV0"}, "cursor"),  # ["a","b",1]: not a provider's key
    ({"stauts": "x"}, "stauts"),
])
def test_bad_arguments_are_422_naming_the_field(client, tenant, params, field):
    query = {"from": "2025-03-03", "to": "2025-03-09", **params}
    response = client.get(URL, headers=bearer(tenant.admin_key),
                          query_string={k: v for k, v in query.items() if v is not None})
    assert response.status_code == 422, response.json
    assert response.content_type == "application/problem+json"
    assert any(name.split(".")[0] == field for name in response.json["errors"]), response.json


def test_92_days_are_allowed(client, tenant, make_provider):
    make_provider()
    item = only(report(client, tenant.admin_key, date(2025, 3, 3), date(2025, 6, 2)))
    assert len(item["days"]) == 92
    assert item["days"][-1]["date"] == "2025-06-02"


def test_a_cursor_of_other_providers_is_422(client, tenant, make_provider):
    _, second, third = (make_provider(family_name=n) for n in ("Adams", "Baker", "Cole"))
    page = report(client, tenant.admin_key, MONDAY, MONDAY, limit=1)
    response = client.get(URL, headers=bearer(tenant.admin_key), query_string={
        "from": str(MONDAY), "to": str(MONDAY), "cursor": page["next_cursor"],
        "provider_id": [str(second.id), str(third.id)]})
    assert response.status_code == 422
    assert "cursor" in response.json["errors"]


# Cost ---------------------------------------------------------------------------------


def statements_of(client, key, app, **params):
    with data_reads(app) as reads:
        report(client, key, MONDAY, MONDAY + timedelta(days=params.pop("days") - 1), **params)
    return reads


def test_statements_do_not_grow_with_providers_or_days(client, tenant, make_provider, app,
                                                       book, owner_engine):
    providers = [make_provider() for _ in range(10)]
    for n, provider in enumerate(providers):
        book(provider, local(MONDAY + timedelta(days=n % 5), 9 + n % 8))
    with app.app_context():
        LeaveRequestFactory(tenant_id=tenant.id, provider_id=providers[0].id,
                            start=local(MONDAY, 9), end=local(MONDAY, 12))
    two = statements_of(client, tenant.admin_key, app, days=1, limit=2)
    ten = statements_of(client, tenant.admin_key, app, days=92, limit=10)
    by_id = statements_of(client, tenant.admin_key, app, days=30,
                          provider_id=[str(p.id) for p in providers])
    # The key, the providers, their zones on `to`, the read model's window (none here:
    # the dates are outside it, so computed live), working time, appointments.
    assert 1 <= len(two) == len(ten) == len(by_id) <= 6, ten


def test_a_report_writes_nothing(client, tenant, make_provider, owner_engine):
    make_provider()

    def counts():
        with owner_engine.connect() as conn:
            return conn.execute(text("SELECT (SELECT count(*) FROM outbox), "
                                     "(SELECT count(*) FROM audit_log)")).one()

    before = counts()
    report(client, tenant.admin_key, MONDAY, MONDAY + timedelta(days=6))
    assert counts() == before


# The day arithmetic, without the database -------------------------------------------

# Zones whose clocks skip or repeat midnight itself (Asuncion, Santiago, Havana), move by
# half an hour (Lord Howe), sit at the ends of the offsets (Kiritimati +14, Pago Pago -11).
ODD_ZONES = ["America/Asuncion", "America/Santiago", "America/Havana", "Australia/Lord_Howe",
             "Pacific/Kiritimati", "Pacific/Pago_Pago", "America/New_York", "Asia/Kolkata"]


@settings(max_examples=150, deadline=None)
@given(zone=st.sampled_from(ODD_ZONES),
       first=st.dates(min_value=date(2015, 1, 1), max_value=date(2030, 12, 31)),
       length=st.integers(min_value=1, max_value=92))
def test_days_tile_time_and_working_all_of_it_fills_each_day(zone, first, length):
    last = first + timedelta(days=length - 1)
    tz = ZoneInfo(zone)
    bounds = local_midnights(first, last, tz)
    cover = utc_cover(first, last)
    # The UTC span the domains are asked about holds every local day.
    assert cover[0] <= bounds[0]
    assert bounds[-1] <= cover[1]
    days = daily_usage(first=first, last=last, zone=tz, working=[cover], appointments=[])
    lengths = [(b - a) // timedelta(minutes=1) for a, b in itertools.pairwise(bounds)]
    assert [d.working_minutes for d in days] == lengths
    assert all(22 * 60 <= n <= 26 * 60 for n in lengths)  # a day is 23 to 25 hours here
    assert [d.date for d in days] == [first + timedelta(days=n) for n in range(length)]
    # Each day starts on its own local date (or at the jump, where midnight is skipped).
    assert all(b.astimezone(tz).date() == d.date and b.astimezone(tz).hour <= 1
               for b, d in zip(bounds[:-1], days, strict=True))

"""Working hours and date overrides through HTTP: commands, events, 422s, roles, tenants."""

import uuid
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, inspect, text

from tests import database
from tests.conftest import bearer
from tests.factories import ApiKeyFactory
from tests.patient_factories import PatientFactory
from tests.provider_factories import ProviderFactory
from vitalbridge import create_app
from vitalbridge.messaging.messages import Role

RULES = [{"weekday": 0, "start": "09:00", "end": "12:30"},
         {"weekday": 0, "start": "13:30", "end": "17:00"},
         {"weekday": 4, "start": "08:00", "end": "24:00"}]


def events(owner_engine, type_):
    with owner_engine.connect() as conn:
        return conn.execute(text("SELECT envelope FROM outbox WHERE type = :t ORDER BY seq"),
                            {"t": type_}).scalars().all()


def key_for(app, tenant, role, **kwargs):
    with app.app_context():
        return ApiKeyFactory(tenant_id=tenant.id, role=role, **kwargs).key


@pytest.fixture
def provider(app, tenant):
    with app.app_context():
        return ProviderFactory(tenant_id=tenant.id, timezone="Europe/Paris")


def put_hours(client, key, provider_id, body, **headers):
    return client.put(f"/api/v1/providers/{provider_id}/working-hours", json=body,
                      headers={**bearer(key), **headers})


def put_override(client, key, provider_id, day, body):
    return client.put(f"/api/v1/providers/{provider_id}/overrides/{day}", json=body,
                      headers=bearer(key))


# Working hours ------------------------------------------------------------------------


def test_set_working_hours_then_read_them(client, tenant, provider, owner_engine):
    response = put_hours(client, tenant.admin_key, provider.id, {"rules": RULES})
    assert response.status_code == 200
    assert response.json == {"id": str(provider.id), "version": 1}
    one = client.get(f"/api/v1/providers/{provider.id}/working-hours",
                     headers=bearer(tenant.admin_key))
    assert one.status_code == 200
    assert one.headers["ETag"] == '"1"'
    assert one.json["timezone"] == "Europe/Paris"  # the provider's, by default
    assert one.json["effective_from"] is None
    assert one.json["rules"] == RULES
    assert one.json["updated_at"].endswith("Z")
    [envelope] = events(owner_engine, "schedule.working_hours_set")
    assert envelope["aggregate_id"] == str(provider.id)
    assert envelope["data"] == {"timezone": "Europe/Paris", "effective_from": None,
                                "rules": RULES}


def test_setting_again_replaces_every_rule(client, tenant, provider, owner_engine):
    put_hours(client, tenant.admin_key, provider.id, {"rules": RULES})
    body = {"timezone": "Asia/Tokyo", "effective_from": str(date.today() - timedelta(days=3)),
            "rules": [{"weekday": 2, "start": "10:00", "end": "11:00"}]}
    response = put_hours(client, tenant.admin_key, provider.id, body)
    assert response.json["version"] == 2
    one = client.get(f"/api/v1/providers/{provider.id}/working-hours",
                     headers=bearer(tenant.admin_key)).json
    assert (one["timezone"], one["effective_from"], one["rules"]) == (
        "Asia/Tokyo", body["effective_from"], body["rules"])
    assert one["upcoming"] == []
    assert len(events(owner_engine, "schedule.working_hours_set")) == 2


def test_unset_working_hours_are_404(client, tenant, provider):
    response = client.get(f"/api/v1/providers/{provider.id}/working-hours",
                          headers=bearer(tenant.admin_key))
    assert response.status_code == 404


@pytest.mark.parametrize(("rules", "bad"), [
    ([{"weekday": 1, "start": "12:00", "end": "09:00"}], {"rules.0"}),
    ([{"weekday": 1, "start": "09:00", "end": "09:00"}], {"rules.0"}),
    ([{"weekday": 1, "start": "09:00", "end": "12:00"},
      {"weekday": 2, "start": "09:00", "end": "12:00"},
      {"weekday": 1, "start": "11:00", "end": "13:00"}], {"rules.2"}),
    ([{"weekday": 7, "start": "09:00", "end": "12:00"}], {"rules.0.weekday"}),
    ([{"weekday": -1, "start": "09:00", "end": "12:00"}], {"rules.0.weekday"}),
    ([{"weekday": 1, "start": "9am", "end": "12:00"}], {"rules.0.start"}),
    ([{"weekday": 1, "start": "09:00", "end": "25:00"}], {"rules.0.end"}),
    ([{"weekday": 1, "start": "09:00:00", "end": "12:00"}], {"rules.0.start"}),
    ([{"weekday": 1, "start": "09:00"}], {"rules.0.end"}),
])
def test_bad_rules_are_422_naming_each(client, tenant, provider, owner_engine, rules, bad):
    response = put_hours(client, tenant.admin_key, provider.id, {"rules": rules})
    assert response.status_code == 422
    assert set(response.json["errors"]) == bad
    assert events(owner_engine, "schedule.working_hours_set") == []


@pytest.mark.parametrize(("body", "field"), [
    ({}, "rules"), ({"rules": RULES, "timezone": "Mars/Base"}, "timezone"),
    ({"rules": RULES, "effective_from": "soon"}, "effective_from"),
    ({"rules": RULES, "tenant_id": str(uuid.uuid4())}, "tenant_id"),
])
def test_bad_fields_are_422(client, tenant, provider, body, field):
    response = put_hours(client, tenant.admin_key, provider.id, body)
    assert response.status_code == 422
    assert field in response.json["errors"]


def test_if_match_stale_is_412(client, tenant, provider, owner_engine):
    put_hours(client, tenant.admin_key, provider.id, {"rules": RULES})
    ok = put_hours(client, tenant.admin_key, provider.id, {"rules": []}, **{"If-Match": '"1"'})
    assert ok.status_code == 200
    stale = put_hours(client, tenant.admin_key, provider.id, {"rules": RULES},
                      **{"If-Match": '"1"'})
    assert stale.status_code == 412
    assert len(events(owner_engine, "schedule.working_hours_set")) == 2


def test_unknown_provider_is_404_and_inactive_is_409(client, tenant, provider, owner_engine):
    assert put_hours(client, tenant.admin_key, uuid.uuid4(), {"rules": RULES}).status_code == 404
    client.post(f"/api/v1/providers/{provider.id}/deactivate", headers=bearer(tenant.admin_key))
    response = put_hours(client, tenant.admin_key, provider.id, {"rules": RULES})
    assert response.status_code == 409
    assert response.json["type"].endswith("provider-inactive")
    closed = put_override(client, tenant.admin_key, provider.id, "2027-03-15", {"closed": True})
    assert closed.status_code == 409
    assert events(owner_engine, "schedule.working_hours_set") == []


def test_refusals_for_the_provider_are_audited_and_kept_for_the_key(client, tenant, provider,
                                                                    owner_engine):
    # The provider domain's answer travels in the command; its handler refuses, so the
    # refusal is audited and replayed like any other (README: Idempotency).
    admin = tenant.admin_key
    assert put_override(client, admin, provider.id, "2027-03-15", {"closed": True}
                        ).status_code == 200
    client.post(f"/api/v1/providers/{provider.id}/deactivate", headers=bearer(admin))
    first = put_hours(client, admin, provider.id, {"rules": RULES}, **{"Idempotency-Key": "k1"})
    again = put_hours(client, admin, provider.id, {"rules": RULES}, **{"Idempotency-Key": "k1"})
    assert first.status_code == again.status_code == 409
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json == first.json
    removed = client.delete(f"/api/v1/providers/{provider.id}/overrides/2027-03-15",
                            headers=bearer(admin))
    assert removed.status_code == 409
    assert removed.json["type"].endswith("provider-inactive")
    assert events(owner_engine, "schedule.override_removed") == []
    unknown = uuid.uuid4()
    assert put_hours(client, admin, unknown, {"rules": RULES}).status_code == 404
    with owner_engine.connect() as conn:
        audited = conn.execute(text(
            "SELECT command, target_id, outcome FROM audit_log WHERE outcome LIKE 'refused:%'"
            " ORDER BY occurred_at")).all()
    assert [tuple(row) for row in audited] == [
        ("SetWorkingHours", provider.id, "refused:provider-inactive"),
        ("RemoveDateOverride", provider.id, "refused:provider-inactive"),
        ("SetWorkingHours", unknown, "refused:not-found")]


def test_provider_key_sets_its_own_hours_only(client, app, tenant, provider, owner_engine):
    with app.app_context():
        other = ProviderFactory(tenant_id=tenant.id)
    key = key_for(app, tenant, Role.PROVIDER, provider_id=provider.id)
    assert put_hours(client, key, provider.id, {"rules": RULES}).status_code == 200
    assert put_hours(client, key, other.id, {"rules": RULES}).status_code == 403
    assert put_override(client, key, other.id, "2027-03-15", {"closed": True}).status_code == 403
    assert client.get(f"/api/v1/providers/{other.id}/working-hours",
                      headers=bearer(key)).status_code == 403
    [envelope] = events(owner_engine, "schedule.working_hours_set")
    assert envelope["actor"]["role"] == "provider"


@pytest.mark.parametrize("role", [Role.STAFF, Role.READONLY])
def test_staff_and_readonly_read_but_do_not_write(client, app, tenant, provider, role):
    put_hours(client, tenant.admin_key, provider.id, {"rules": RULES})
    key = key_for(app, tenant, role)
    assert put_hours(client, key, provider.id, {"rules": RULES}).status_code == 403
    assert put_override(client, key, provider.id, "2027-03-15", {"closed": True}).status_code \
        == 403
    assert client.delete(f"/api/v1/providers/{provider.id}/overrides/2027-03-15",
                         headers=bearer(key)).status_code == 403
    assert client.get(f"/api/v1/providers/{provider.id}/working-hours",
                      headers=bearer(key)).status_code == 200


def test_another_tenant_sees_nothing(client, tenant, other_tenant, provider, owner_engine):
    put_hours(client, tenant.admin_key, provider.id, {"rules": RULES})
    foreign = other_tenant.admin_key
    assert put_hours(client, foreign, provider.id, {"rules": []}).status_code == 404
    assert client.get(f"/api/v1/providers/{provider.id}/working-hours",
                      headers=bearer(foreign)).status_code == 404
    assert put_override(client, foreign, provider.id, "2027-03-15",
                        {"closed": True}).status_code == 404
    assert len(events(owner_engine, "schedule.working_hours_set")) == 1


# Overrides ----------------------------------------------------------------------------


def test_set_replace_and_remove_an_override(client, tenant, provider, owner_engine):
    intervals = [{"start": "10:00", "end": "12:00"}]
    first = put_override(client, tenant.admin_key, provider.id, "2027-03-15",
                         {"intervals": intervals})
    assert first.status_code == 200
    assert first.json == {"id": str(provider.id), "version": 1}
    second = put_override(client, tenant.admin_key, provider.id, "2027-03-15", {"closed": True})
    assert second.json["version"] == 2
    set_events = events(owner_engine, "schedule.override_set")
    assert [e["data"] for e in set_events] == [
        {"day": "2027-03-15", "closed": False, "intervals": intervals},
        {"day": "2027-03-15", "closed": True, "intervals": []}]
    url = f"/api/v1/providers/{provider.id}/overrides/2027-03-15"
    removed = client.delete(url, headers=bearer(tenant.admin_key))
    assert removed.status_code == 200
    [envelope] = events(owner_engine, "schedule.override_removed")
    assert envelope["data"] == {"day": "2027-03-15"}
    assert client.delete(url, headers=bearer(tenant.admin_key)).status_code == 404


@pytest.mark.parametrize(("body", "field"), [
    ({}, "body"), ({"intervals": [{"start": "09:00", "end": "10:00"}], "closed": True}, "body"),
    ({"closed": False}, "closed"), ({"intervals": []}, "intervals"),
    ({"intervals": [{"start": "11:00", "end": "10:00"}]}, "intervals.0"),
    ({"intervals": [{"start": "09:00", "end": "11:00"}, {"start": "10:00", "end": "12:00"}]},
     "intervals.1"),
    ({"intervals": [{"start": "noon", "end": "13:00"}]}, "intervals.0.start"),
])
def test_bad_overrides_are_422(client, tenant, provider, owner_engine, body, field):
    response = put_override(client, tenant.admin_key, provider.id, "2027-03-15", body)
    assert response.status_code == 422
    assert field in response.json["errors"]
    assert events(owner_engine, "schedule.override_set") == []


@pytest.mark.parametrize("day", ["2027-02-30", "20270315", "tomorrow"])
def test_a_bad_date_in_the_path_is_422(client, tenant, provider, day):
    response = put_override(client, tenant.admin_key, provider.id, day, {"closed": True})
    assert response.status_code == 422
    assert "date" in response.json["errors"]


def test_provider_key_manages_its_own_overrides(client, app, tenant, provider):
    key = key_for(app, tenant, Role.PROVIDER, provider_id=provider.id)
    assert put_override(client, key, provider.id, "2027-03-15", {"closed": True}).status_code \
        == 200
    assert client.delete(f"/api/v1/providers/{provider.id}/overrides/2027-03-15",
                         headers=bearer(key)).status_code == 200


# Versions: hours set from a date on keep the earlier hours for the earlier dates -------

NY = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")


def every_day(start, end):
    return [{"weekday": day, "start": start, "end": end} for day in range(7)]


def weekday_rules(start, end):
    return [{"weekday": day, "start": start, "end": end} for day in range(5)]


@pytest.fixture
def new_yorker(app, tenant):
    with app.app_context():
        return ProviderFactory(tenant_id=tenant.id, timezone="America/New_York")


def working_hours(client, key, provider_id):
    response = client.get(f"/api/v1/providers/{provider_id}/working-hours",
                          headers=bearer(key))
    assert response.status_code == 200
    return response


def local_working(client, key, provider_id, first, last, zone=NY):
    """``{local date: [(local start, local end), ...]}`` of the schedule view's working
    items over the local dates ``first`` to ``last`` of ``zone``."""
    start = datetime.combine(first, time(), zone)
    end = datetime.combine(last + timedelta(days=1), time(), zone)
    response = client.get(f"/api/v1/providers/{provider_id}/schedule", headers=bearer(key),
                          query_string={"from": start.isoformat(), "to": end.isoformat()})
    assert response.status_code == 200, response.json
    days: dict[str, list[tuple[str, str]]] = {}
    for item in response.json["items"]:
        if item["kind"] == "working":
            days.setdefault(item["local_start"][:10], []).append(
                (item["local_start"][11:], item["local_end"][11:]))
    return days


def free_starts(client, key, provider_id, start, end):
    response = client.get("/api/v1/availability", headers=bearer(key), query_string={
        "from": start.isoformat(), "to": end.isoformat(), "provider_id": str(provider_id),
        "duration": 60, "step": 60})
    assert response.status_code == 200, response.json
    (provider,) = response.json["providers"]
    return provider


def next_dst_change(zone, after):
    """The first local date from ``after`` on whose UTC offset differs from the day
    before's (at noon)."""
    day = after
    while True:
        noon = [datetime.combine(d, time(12), zone).utcoffset()
                for d in (day - timedelta(days=1), day)]
        if noon[0] != noon[1]:
            return day
        day += timedelta(days=1)


def test_hours_from_a_future_date_keep_the_current_ones_until_then(client, tenant,
                                                                    new_yorker):
    admin = tenant.admin_key
    put_hours(client, admin, new_yorker.id, {"rules": every_day("09:00", "17:00")})
    # The Monday-ish date after a change of New York's clocks, far enough ahead that the
    # days before it are still bookable.
    change = next_dst_change(NY, date.today() + timedelta(days=8))
    effective = change + timedelta(days=1)
    response = put_hours(client, admin, new_yorker.id, {
        "effective_from": str(effective), "rules": every_day("10:00", "12:00")})
    assert response.status_code == 200
    first, last = change - timedelta(days=3), effective + timedelta(days=2)
    days = local_working(client, admin, new_yorker.id, first, last)
    before_offset = datetime.combine(first, time(12), NY).strftime("%H:%M:%S%z")[-5:]
    after_offset = datetime.combine(last, time(12), NY).strftime("%H:%M:%S%z")[-5:]
    assert before_offset != after_offset
    for n in range((last - first).days + 1):
        day = first + timedelta(days=n)
        offset = datetime.combine(day, time(12), NY).isoformat()[-6:]
        hours = ("09:00:00", "17:00:00") if day < effective else ("10:00:00", "12:00:00")
        assert days[str(day)] == [(hours[0] + offset, hours[1] + offset)], day
    # Availability agrees on both sides: the current hours this side of the date.
    found = free_starts(client, admin, new_yorker.id,
                        datetime.combine(first, time(), NY),
                        datetime.combine(last + timedelta(days=1), time(), NY))
    by_day: dict[date, list[int]] = {}
    for slot in found["slots"]:
        local = datetime.fromisoformat(slot).astimezone(NY)
        by_day.setdefault(local.date(), []).append(local.hour)
    assert by_day[first] == by_day[change] == list(range(9, 17))
    assert by_day[effective] == by_day[last] == [10, 11]
    assert found["timezone"] == "America/New_York"


def test_hours_set_without_a_date_keep_the_past(client, tenant, new_yorker, owner_engine):
    admin = tenant.admin_key
    put_hours(client, admin, new_yorker.id, {"rules": every_day("09:00", "17:00")})
    today = datetime.now(NY).date()
    last_week = (today - timedelta(days=8), today - timedelta(days=1))
    before = local_working(client, admin, new_yorker.id, *last_week)
    assert len(before) == 8
    put_hours(client, admin, new_yorker.id, {"rules": every_day("10:00", "12:00")})
    assert local_working(client, admin, new_yorker.id, *last_week) == before
    ahead = local_working(client, admin, new_yorker.id, today, today + timedelta(days=7))
    assert {tuple(t[:8] for t in hours[0]) for hours in ahead.values()} == {
        ("10:00:00", "12:00:00")}
    assert len(ahead) == 8
    first, second = events(owner_engine, "schedule.working_hours_set")
    assert first["data"]["effective_from"] is None  # the first hours cover every date
    assert second["data"]["effective_from"] == str(today)
    one = working_hours(client, admin, new_yorker.id).json
    assert (one["effective_from"], one["rules"], one["upcoming"]) == (
        str(today), every_day("10:00", "12:00"), [])


def test_the_first_hours_cover_the_past(client, tenant, new_yorker):
    put_hours(client, tenant.admin_key, new_yorker.id, {"rules": weekday_rules("09:00",
                                                                                "17:00")})
    days = local_working(client, tenant.admin_key, new_yorker.id, date(2020, 3, 2),
                         date(2020, 3, 8))
    assert sorted(days) == [f"2020-03-0{d}" for d in range(2, 7)]


def test_an_earlier_date_drops_the_hours_planned_after_it(client, tenant, new_yorker):
    admin = tenant.admin_key
    today = datetime.now(NY).date()
    put_hours(client, admin, new_yorker.id, {"rules": every_day("09:00", "17:00")})
    later, sooner = today + timedelta(days=20), today + timedelta(days=10)
    put_hours(client, admin, new_yorker.id, {"effective_from": str(later),
                                             "rules": every_day("13:00", "14:00")})
    assert [v["effective_from"] for v in working_hours(
        client, admin, new_yorker.id).json["upcoming"]] == [str(later)]
    put_hours(client, admin, new_yorker.id, {"effective_from": str(sooner),
                                             "rules": every_day("07:00", "08:00")})
    one = working_hours(client, admin, new_yorker.id).json
    assert one["rules"] == every_day("09:00", "17:00")
    assert one["upcoming"] == [{"effective_from": str(sooner), "timezone": "America/New_York",
                                "rules": every_day("07:00", "08:00")}]
    days = local_working(client, admin, new_yorker.id, sooner - timedelta(days=1),
                         later + timedelta(days=1))
    assert {day: hours[0][0][:5] for day, hours in days.items()} == {
        str(sooner - timedelta(days=1) + timedelta(days=n)): "09:00" if n == 0 else "07:00"
        for n in range(13)}


def test_get_answers_the_hours_in_force_and_the_upcoming_ones(client, tenant, provider):
    admin = tenant.admin_key
    today = date.today()
    planned = [str(today + timedelta(days=n)) for n in (30, 60)]
    put_hours(client, admin, provider.id, {"effective_from": planned[1], "rules": RULES})
    alone = working_hours(client, admin, provider.id).json
    # Nothing in force yet: the first version is answered, with its date.
    assert (alone["effective_from"], alone["upcoming"]) == (planned[1], [])
    put_hours(client, admin, provider.id, {"effective_from": str(today - timedelta(days=2)),
                                           "timezone": "Asia/Tokyo", "rules": []})
    put_hours(client, admin, provider.id, {"effective_from": planned[0], "rules": RULES})
    put_hours(client, admin, provider.id, {"effective_from": planned[1],
                                           "rules": RULES[:1]})
    response = working_hours(client, admin, provider.id)
    assert response.headers["ETag"] == '"4"'
    one = response.json
    assert (one["timezone"], one["effective_from"], one["rules"], one["version"]) == (
        "Asia/Tokyo", str(today - timedelta(days=2)), [], 4)
    assert one["upcoming"] == [
        {"effective_from": planned[0], "timezone": "Europe/Paris", "rules": RULES},
        {"effective_from": planned[1], "timezone": "Europe/Paris", "rules": RULES[:1]}]


def new_york_then_tokyo(client, admin, provider_id):
    """09:00-17:00 in New York every day, then 09:00-11:00 in Tokyo from 10 days on."""
    put_hours(client, admin, provider_id, {"rules": every_day("09:00", "17:00")})
    effective = datetime.now(TOKYO).date() + timedelta(days=10)
    put_hours(client, admin, provider_id, {"effective_from": str(effective),
                                           "timezone": "Asia/Tokyo",
                                           "rules": every_day("09:00", "11:00")})
    return effective


def test_hours_moved_to_another_zone_keep_each_zone_for_its_dates(client, app, tenant,
                                                                  new_yorker):
    admin = tenant.admin_key
    effective = new_york_then_tokyo(client, admin, new_yorker.id)
    start = datetime.combine(effective - timedelta(days=2), time(), NY)
    end = datetime.combine(effective + timedelta(days=2), time(), TOKYO)
    response = client.get(f"/api/v1/providers/{new_yorker.id}/schedule",
                          headers=bearer(admin),
                          query_string={"from": start.isoformat(), "to": end.isoformat()})
    assert response.json["timezone"] == "America/New_York"  # in force at `from`
    local = [(i["local_start"], i["local_end"]) for i in response.json["items"]]
    ny_day = [effective - timedelta(days=n) for n in (2, 1)]
    assert local == [
        *[(f"{d}T09:00:00-05:00", f"{d}T17:00:00-05:00") for d in ny_day],
        *[(f"{d}T09:00:00+09:00", f"{d}T11:00:00+09:00")
          for d in (effective, effective + timedelta(days=1))],
    ] or local == [  # New York in summer time
        *[(f"{d}T09:00:00-04:00", f"{d}T17:00:00-04:00") for d in ny_day],
        *[(f"{d}T09:00:00+09:00", f"{d}T11:00:00+09:00")
          for d in (effective, effective + timedelta(days=1))],
    ]
    found = free_starts(client, admin, new_yorker.id, start, end)
    # New York's last date ends at 17:00 there (07:00 of the next Tokyo date).
    after_new_york = datetime.combine(ny_day[1], time(17), NY)
    tokyo_hours = sorted({datetime.fromisoformat(s).astimezone(TOKYO).hour
                          for s in found["slots"]
                          if datetime.fromisoformat(s) >= after_new_york})
    assert tokyo_hours == [9, 10]
    # Booking checks the hours of the version governing the date.
    with app.app_context():
        patient = PatientFactory(tenant_id=tenant.id)
    def book(at):
        return client.post("/api/v1/appointments", headers=bearer(admin), json={
            "provider_id": str(new_yorker.id), "patient_id": str(patient.id),
            "start": at.isoformat(), "duration": 30})
    assert book(datetime.combine(effective, time(14), TOKYO)).status_code == 409
    assert book(datetime.combine(effective, time(9, 30), TOKYO)).status_code == 201
    assert book(datetime.combine(ny_day[0], time(15), NY)).status_code == 201


def test_an_old_zone_date_keeps_its_clock_after_the_new_zone_date_began(client, tenant,
                                                                        new_yorker):
    # Tokyo's first date begins at 10:00 (or 11:00) on New York's last one: a period of
    # New York's date still shows New York's offset, an instant alone would not say so.
    admin = tenant.admin_key
    effective = new_york_then_tokyo(client, admin, new_yorker.id)
    last_ny = effective - timedelta(days=1)
    override = client.put(f"/api/v1/providers/{new_yorker.id}/overrides/{last_ny}",
                          headers=bearer(admin),
                          json={"intervals": [{"start": "13:00", "end": "14:00"}]})
    assert override.status_code == 200, override.json
    start = datetime.combine(last_ny, time(), NY)
    response = client.get(f"/api/v1/providers/{new_yorker.id}/schedule",
                          headers=bearer(admin),
                          query_string={"from": start.isoformat(),
                                        "to": (start + timedelta(days=1)).isoformat()})
    one_pm = datetime.combine(last_ny, time(13), NY)
    offset = one_pm.strftime("%z")
    locals_ = [i["local_start"] for i in response.json["items"] if i["kind"] == "working"]
    # New York's hour, then Tokyo's first morning (which starts that New York evening).
    assert locals_ == [f"{last_ny}T13:00:00{offset[:3]}:{offset[3:]}",
                       f"{effective}T09:00:00+09:00"]


# The migration: one working_hours row per provider becomes its single version ---------

OLD_HEAD = "0010_audit_trail_lookups"


def test_migration_copies_the_hours_into_versions_and_back(server_url):
    rows = [(uuid.uuid4(), uuid.uuid4(), "Europe/Paris", None),
            (uuid.uuid4(), uuid.uuid4(), "Asia/Tokyo", date(2027, 1, 4))]
    with database.fresh_database(server_url) as url:
        app = create_app(database_url=url, env="testing")
        engine = create_engine(url)
        try:
            with app.app_context():
                app.extensions["alembic"].upgrade(OLD_HEAD)
            with engine.begin() as conn:
                for tenant_id, provider_id, zone, start in rows:
                    conn.execute(text(
                        "INSERT INTO working_hours (tenant_id, provider_id, timezone, "
                        "effective_from, rules, version) VALUES (:t, :p, :z, :e, "
                        "CAST(:r AS jsonb), 3)"), {"t": tenant_id, "p": provider_id,
                                                   "z": zone, "e": start,
                                                   "r": '[{"weekday": 0, "start": "09:00", '
                                                        '"end": "17:00"}]'})
            with app.app_context():
                app.extensions["alembic"].upgrade()
            with engine.connect() as conn:
                copied = conn.execute(text(
                    "SELECT provider_id, timezone, effective_from, rules "
                    "FROM working_hours_versions ORDER BY timezone DESC")).all()
                heads = conn.execute(text("SELECT version FROM working_hours")).scalars()
                assert sorted(heads) == [3, 3]
            assert [tuple(r[:3]) for r in copied] == [
                (rows[0][1], "Europe/Paris", date.min),
                (rows[1][1], "Asia/Tokyo", date(2027, 1, 4))]
            assert copied[0].rules == [{"weekday": 0, "start": "09:00", "end": "17:00"}]
            with engine.begin() as conn:  # planned hours: lost by a downgrade
                conn.execute(text(
                    "INSERT INTO working_hours_versions (tenant_id, provider_id, "
                    "effective_from, timezone, rules) SELECT tenant_id, provider_id, "
                    "CURRENT_DATE + 30, 'Asia/Tokyo', '[]' FROM working_hours_versions "
                    "WHERE timezone = 'Europe/Paris'"))
            with app.app_context():
                app.extensions["alembic"].downgrade(OLD_HEAD)
            with engine.connect() as conn:
                assert "working_hours_versions" not in inspect(conn).get_table_names()
                back = conn.execute(text(
                    "SELECT provider_id, timezone, effective_from FROM working_hours "
                    "ORDER BY timezone DESC")).all()
            assert [tuple(r) for r in back] == [(rows[0][1], "Europe/Paris", None),
                                               (rows[1][1], "Asia/Tokyo", date(2027, 1, 4))]
            with app.app_context():
                app.extensions["alembic"].upgrade()
        finally:
            engine.dispose()
            app.extensions["vitalbridge"].db.dispose()

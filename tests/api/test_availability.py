"""Get Available Slots through HTTP: working hours, leave, appointments, DST, notice, roles."""

import itertools
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from tests.appointment_factories import AppointmentFactory, next_monday
from tests.conftest import bearer, data_reads
from tests.factories import ApiKeyFactory, dispatch_as_system
from tests.patient_factories import PatientFactory
from tests.provider_factories import ProviderFactory
from tests.schedule_factories import LeaveRequestFactory, WorkingHoursFactory
from vitalbridge.messaging.messages import Role
from vitalbridge.provider.messages import DeactivateProvider
from vitalbridge.schedule.calendar import WeeklyRule
from vitalbridge.schedule.messages import ApproveLeaveRequest, SetDateOverride

NY = ZoneInfo("America/New_York")
MONDAY = next_monday()
ALL_DAY = tuple(WeeklyRule(day, time(0), time.max) for day in range(7))


def at(hour, minute=0, day=0):
    """A New York wall-clock time on the Monday (plus ``day`` days) the tests look at."""
    return (MONDAY + timedelta(days=day)).replace(hour=hour, minute=minute, tzinfo=NY)


def z(instant):
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def slots(client, key, start, end, **params):
    response = client.get("/api/v1/availability", headers=bearer(key),
                          query_string={"from": start.isoformat(), "to": end.isoformat(),
                                        **params})
    assert response.status_code == 200, response.json
    return response


def only_slots(response):
    (provider,) = response.json["providers"]
    return provider["slots"]


def key_for(app, tenant, role, **kwargs):
    with app.app_context():
        return ApiKeyFactory(tenant_id=tenant.id, role=role, **kwargs).key


@pytest.fixture
def make_provider(app, tenant):
    def make(rules=None, **kwargs):
        with app.app_context():
            made = ProviderFactory(tenant_id=tenant.id, **kwargs)
            WorkingHoursFactory(tenant_id=tenant.id, provider_id=made.id,
                                timezone=made.timezone, **({"rules": rules} if rules else {}))
            return made
    return make


@pytest.fixture
def provider(make_provider):
    """A New York provider working 09:00-17:00 on weekdays."""
    return make_provider()


def book(app, tenant, provider_id, start, minutes=30):
    with app.app_context():
        patient = PatientFactory(tenant_id=tenant.id)
        return AppointmentFactory(tenant_id=tenant.id, provider_id=provider_id,
                                  patient_id=patient.id, start=start,
                                  end=start + timedelta(minutes=minutes))


def test_a_working_day_has_every_quarter_hour_a_half_hour_fits(client, tenant, provider):
    found = only_slots(slots(client, tenant.admin_key, at(0), at(0, day=1),
                             provider_id=str(provider.id)))
    assert found[0] == z(at(9))
    assert found[-1] == z(at(16, 30))
    assert len(found) == 31  # 09:00, 09:15, ... 16:30
    assert found == sorted(set(found))


def test_answer_names_the_request(client, tenant, provider):
    body = slots(client, tenant.admin_key, at(0), at(0, day=1), provider_id=str(provider.id),
                 duration=45, step=30).json
    assert body["duration"] == 45
    assert body["step"] == 30
    assert body["from"] == z(at(0))
    assert body["to"] == z(at(0, day=1))
    assert body["providers"][0]["timezone"] == "America/New_York"
    assert body["providers"][0]["slots"][-1] == z(at(16))  # 16:00 + 45 min <= 17:00


def test_slots_follow_daylight_saving(client, tenant, provider):
    # New York springs forward on Sunday 2027-03-14: 09:00 is 14:00Z before, 13:00Z after.
    found = only_slots(slots(client, tenant.admin_key,
                             datetime(2027, 3, 12, tzinfo=UTC), datetime(2027, 3, 16, tzinfo=UTC),
                             provider_id=str(provider.id)))
    friday = [s for s in found if s.startswith("2027-03-12")]
    monday = [s for s in found if s.startswith("2027-03-15")]
    assert friday[0] == "2027-03-12T14:00:00Z"
    assert monday[0] == "2027-03-15T13:00:00Z"
    assert len(friday) == len(monday) == 31


@pytest.mark.parametrize(("local_day", "expected"), [
    # Spring forward: 02:00-03:00 never happens; 01:45 is the last start before it whose
    # half hour ends at 03:15 EDT (the clock jumps), so the day has 4 slots fewer.
    ("2027-03-14", 24 * 4 - 4),
    # Fall back: 01:00-02:00 happens twice; both runs of it are free time.
    ("2027-11-07", 24 * 4 + 4),
])
def test_transition_days_have_no_missing_or_duplicated_slot(client, tenant, make_provider,
                                                            local_day, expected):
    provider = make_provider(rules=ALL_DAY)
    day = datetime.fromisoformat(local_day)
    start, end = day.replace(tzinfo=NY), (day + timedelta(days=1)).replace(tzinfo=NY)
    found = only_slots(slots(client, tenant.admin_key, start, end,
                             provider_id=str(provider.id)))
    assert found == sorted(set(found))
    assert len(found) == expected - 1  # the last start, 23:45, would end after the window
    instants = [datetime.fromisoformat(s) for s in found]
    assert all(b - a == timedelta(minutes=15) for a, b in itertools.pairwise(instants))


def test_active_appointments_take_their_time_cancelled_ones_do_not(client, tenant, provider,
                                                                   app):
    booked = book(app, tenant, provider.id, at(10))
    found = only_slots(slots(client, tenant.admin_key, at(0), at(0, day=1),
                             provider_id=str(provider.id)))
    # A half hour starting 09:45, 10:00 or 10:15 would overlap 10:00-10:30.
    assert z(at(9, 30)) in found
    assert z(at(10, 30)) in found
    assert not {z(at(9, 45)), z(at(10)), z(at(10, 15))} & set(found)
    cancelled = client.post(f"/api/v1/appointments/{booked.id}/cancel",
                            json={"reason": "patient called"}, headers=bearer(tenant.admin_key))
    assert cancelled.status_code == 200
    found = only_slots(slots(client, tenant.admin_key, at(0), at(0, day=1),
                             provider_id=str(provider.id)))
    assert len(found) == 31


def test_approved_leave_blocks_pending_leave_does_not(client, tenant, provider, app):
    with app.app_context():
        leave = LeaveRequestFactory(tenant_id=tenant.id, provider_id=provider.id,
                                    start=at(12), end=at(9, day=2))
    window = {"provider_id": str(provider.id)}
    assert len(only_slots(slots(client, tenant.admin_key, at(0), at(0, day=2), **window))) == 62
    with app.app_context():
        dispatch_as_system(ApproveLeaveRequest(leave_id=leave.id), tenant.id)
    found = only_slots(slots(client, tenant.admin_key, at(0), at(0, day=3), **window))
    assert found[-1] == z(at(16, 30, day=2))
    assert [s for s in found if s < z(at(9, day=2))][-1] == z(at(11, 30))


def test_overrides_win_over_weekly_rules(client, tenant, provider, app):
    with app.app_context():
        dispatch_as_system(SetDateOverride(provider_id=provider.id, day=MONDAY.date(),
                                           intervals=((time(13), time(14)),)), tenant.id)
        dispatch_as_system(SetDateOverride(provider_id=provider.id,
                                           day=(MONDAY + timedelta(days=1)).date(),
                                           intervals=()), tenant.id)
    found = only_slots(slots(client, tenant.admin_key, at(0), at(0, day=2),
                             provider_id=str(provider.id)))
    assert found == [z(at(13)), z(at(13, 15)), z(at(13, 30))]


def test_no_slot_starts_in_the_past(client, tenant, make_provider):
    provider = make_provider(rules=ALL_DAY)
    now = datetime.now(UTC)
    body = slots(client, tenant.admin_key, now - timedelta(days=1), now + timedelta(days=1),
                 provider_id=str(provider.id)).json
    found = body["providers"][0]["slots"]
    assert found
    assert all(datetime.fromisoformat(s) >= now for s in found)
    assert datetime.fromisoformat(found[0]) - now <= timedelta(minutes=15)
    assert datetime.fromisoformat(body["not_before"]) >= now


def test_minimum_notice_is_the_clinics_setting(client, tenant, make_provider):
    provider = make_provider(rules=ALL_DAY)
    saved = client.patch("/api/v1/settings", json={"min_notice_minutes": 180},
                         headers=bearer(tenant.admin_key))
    assert saved.status_code == 200, saved.json
    now = datetime.now(UTC)
    found = only_slots(slots(client, tenant.admin_key, now, now + timedelta(days=1),
                             provider_id=str(provider.id)))
    first = datetime.fromisoformat(found[0])
    assert now + timedelta(minutes=180) <= first <= now + timedelta(minutes=196)


def test_several_providers_in_the_order_asked(client, tenant, make_provider, app):
    first, second = make_provider(), make_provider(timezone="Europe/Berlin")
    book(app, tenant, second.id, at(10))
    body = slots(client, tenant.admin_key, at(0), at(0, day=1),
                 provider_id=[str(second.id), str(first.id)]).json
    assert [p["provider_id"] for p in body["providers"]] == [str(second.id), str(first.id)]
    berlin, new_york = body["providers"]
    assert berlin["timezone"] == "Europe/Berlin"
    # Berlin 09:00-17:00 Monday is 03:00-11:00 in New York; the booking at 10:00 NY
    # (16:00 Berlin) takes 15:45, 16:00 and 16:15 Berlin time.
    assert z(at(10)) not in berlin["slots"]
    assert z(at(9, 30)) in berlin["slots"]
    assert len(new_york["slots"]) == 31


def test_specialty_means_its_active_providers(client, tenant, make_provider, app):
    cardio = make_provider(specialty="Cardiology")
    retired = make_provider(specialty="Cardiology")
    make_provider(specialty="Dermatology")
    with app.app_context():
        dispatch_as_system(DeactivateProvider(provider_id=retired.id), tenant.id)
    body = slots(client, tenant.admin_key, at(0), at(0, day=1), specialty="cardiology").json
    assert [p["provider_id"] for p in body["providers"]] == [str(cardio.id)]


def test_a_deactivated_provider_asked_by_id_has_no_slots(client, tenant, provider, app):
    with app.app_context():
        dispatch_as_system(DeactivateProvider(provider_id=provider.id), tenant.id)
    assert only_slots(slots(client, tenant.admin_key, at(0), at(0, day=1),
                            provider_id=str(provider.id))) == []


@pytest.mark.parametrize(("params", "field"), [
    ({"to": "2027-03-01T00:00:00Z"}, "to"),  # before from
    ({"to": "2027-04-02T00:00:01Z"}, "to"),  # 31 days and a second
    ({"duration": "0"}, "duration"),
    ({"duration": "481"}, "duration"),
    ({"step": "7"}, "step"),
    ({"step": "0"}, "step"),
    ({"from": "2027-03-02T09:00:00"}, "from"),  # no offset
    ({"provider_id": "not-a-uuid"}, "provider_id"),
])
def test_bad_parameters_are_422_naming_the_field(client, tenant, provider, params, field):
    query = {"from": "2027-03-02T00:00:00Z", "to": "2027-03-03T00:00:00Z",
             "provider_id": str(provider.id), **params}
    response = client.get("/api/v1/availability", query_string=query,
                          headers=bearer(tenant.admin_key))
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert field in str(response.json["errors"])


def test_a_31_day_window_is_allowed(client, tenant, provider):
    body = slots(client, tenant.admin_key, datetime(2027, 3, 1, tzinfo=UTC),
                 datetime(2027, 4, 1, tzinfo=UTC), provider_id=str(provider.id)).json
    assert len(body["providers"][0]["slots"]) == 23 * 31  # 23 weekdays in March 2027


def test_neither_provider_nor_specialty_is_422(client, tenant):
    response = client.get("/api/v1/availability", headers=bearer(tenant.admin_key),
                          query_string={"from": "2027-03-02T00:00:00Z",
                                        "to": "2027-03-03T00:00:00Z"})
    assert response.status_code == 422
    assert "provider_id" in response.json["errors"]


def test_unknown_or_other_tenants_provider_is_422(client, tenant, other_tenant, app, provider):
    with app.app_context():
        foreign = ProviderFactory(tenant_id=other_tenant.id)
        WorkingHoursFactory(tenant_id=other_tenant.id, provider_id=foreign.id)
    response = client.get("/api/v1/availability", headers=bearer(tenant.admin_key),
                          query_string={"from": "2027-03-02T00:00:00Z",
                                        "to": "2027-03-03T00:00:00Z",
                                        "provider_id": [str(provider.id), str(foreign.id)]})
    assert response.status_code == 422
    assert str(foreign.id) in str(response.json["errors"]["provider_id"])


def test_roles(client, tenant, provider, make_provider, app):
    other = make_provider()
    own = key_for(app, tenant, Role.PROVIDER, provider_id=provider.id)
    window = {"from": "2027-03-02T00:00:00Z", "to": "2027-03-03T00:00:00Z"}
    for key, provider_ids, status in [
            (key_for(app, tenant, Role.READONLY), [provider.id, other.id], 200),
            (key_for(app, tenant, Role.STAFF), [provider.id], 200),
            (own, [provider.id], 200),
            (own, [other.id], 403),
            (own, [provider.id, other.id], 403)]:
        response = client.get("/api/v1/availability", headers=bearer(key), query_string={
            **window, "provider_id": [str(i) for i in provider_ids]})
        assert response.status_code == status, (provider_ids, response.json)
    assert client.get("/api/v1/availability", query_string=window).status_code == 401


def test_a_query_writes_nothing(client, tenant, provider, owner_engine):
    def counts():
        with owner_engine.connect() as conn:
            return conn.execute(text("SELECT (SELECT count(*) FROM outbox), "
                                     "(SELECT count(*) FROM audit_log)")).one()
    before = counts()
    slots(client, tenant.admin_key, at(0), at(0, day=7), provider_id=str(provider.id))
    assert counts() == before


def statements_of(client, key, app, **params):
    with data_reads(app) as reads:
        slots(client, key, at(0), at(0, day=params.pop("days")), **params)
    return reads


def test_statements_do_not_grow_with_providers_or_days(client, tenant, make_provider, app):
    providers = [make_provider() for _ in range(12)]
    for n, made in enumerate(providers):
        book(app, tenant, made.id, at(9 + n % 8, day=n % 5))
    one = statements_of(client, tenant.admin_key, app, days=1,
                        provider_id=str(providers[0].id))
    many = statements_of(client, tenant.admin_key, app, days=14,
                         provider_id=[str(p.id) for p in providers])
    assert 1 <= len(one) == len(many) <= 8, many

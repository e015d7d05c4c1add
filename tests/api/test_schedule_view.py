"""View Schedule through HTTP: working periods across DST, overrides, approved leave."""

import uuid
from datetime import UTC, datetime, time

import pytest
from sqlalchemy import text

from tests.appointment_factories import AppointmentFactory
from tests.conftest import bearer
from tests.factories import ApiKeyFactory
from tests.patient_factories import PatientFactory
from tests.provider_factories import ProviderFactory
from tests.schedule_factories import LeaveRequestFactory, WorkingHoursFactory
from vitalbridge.messaging.messages import Role
from vitalbridge.schedule.calendar import WeeklyRule


def key_for(app, tenant, role, **kwargs):
    with app.app_context():
        return ApiKeyFactory(tenant_id=tenant.id, role=role, **kwargs).key


@pytest.fixture
def provider(app, tenant):
    """A New York provider working 09:00-17:00 on weekdays."""
    with app.app_context():
        made = ProviderFactory(tenant_id=tenant.id, timezone="America/New_York")
        WorkingHoursFactory(tenant_id=tenant.id, provider_id=made.id)
        return made


def schedule(client, key, provider_id, start, end):
    return client.get(f"/api/v1/providers/{provider_id}/schedule",
                      query_string={"from": start, "to": end}, headers=bearer(key))


def spans(response):
    return [(i["kind"], i["start"], i["end"]) for i in response.json["items"]]


def test_working_hours_follow_daylight_saving(client, tenant, provider, owner_engine):
    # Clocks in New York spring forward on Sunday 2027-03-14.
    response = schedule(client, tenant.admin_key, provider.id,
                        "2027-03-12T00:00:00-05:00", "2027-03-16T00:00:00-04:00")
    assert response.status_code == 200
    assert spans(response) == [
        ("working", "2027-03-12T14:00:00Z", "2027-03-12T22:00:00Z"),
        ("working", "2027-03-15T13:00:00Z", "2027-03-15T21:00:00Z"),
    ]
    friday, monday = response.json["items"]
    assert (friday["local_start"], friday["local_end"]) == (
        "2027-03-12T09:00:00-05:00", "2027-03-12T17:00:00-05:00")
    assert (monday["local_start"], monday["local_end"]) == (
        "2027-03-15T09:00:00-04:00", "2027-03-15T17:00:00-04:00")
    assert response.json["timezone"] == "America/New_York"
    with owner_engine.connect() as conn:  # a query emits nothing
        assert conn.execute(text("SELECT count(*) FROM outbox WHERE type LIKE 'schedule.%' "
                                 "AND type <> 'schedule.working_hours_set'")).scalar_one() == 0


def test_periods_are_clipped_to_the_window(client, tenant, provider):
    response = schedule(client, tenant.admin_key, provider.id,
                        "2027-03-15T15:00:00Z", "2027-03-15T16:00:00Z")
    assert spans(response) == [("working", "2027-03-15T15:00:00Z", "2027-03-15T16:00:00Z")]


def test_overrides_win_over_weekly_rules(client, tenant, provider):
    admin = bearer(tenant.admin_key)
    base = f"/api/v1/providers/{provider.id}/overrides"
    client.put(f"{base}/2027-03-15", json={"closed": True}, headers=admin)
    client.put(f"{base}/2027-03-16", json={"intervals": [
        {"start": "07:00", "end": "08:00"}, {"start": "20:00", "end": "21:00"}]}, headers=admin)
    response = schedule(client, tenant.admin_key, provider.id,
                        "2027-03-15T00:00:00-04:00", "2027-03-18T00:00:00-04:00")
    assert spans(response) == [
        ("working", "2027-03-16T11:00:00Z", "2027-03-16T12:00:00Z"),
        ("working", "2027-03-17T00:00:00Z", "2027-03-17T01:00:00Z"),
        ("working", "2027-03-17T13:00:00Z", "2027-03-17T21:00:00Z"),
    ]


def test_approved_leave_is_merged_in_time_order(client, app, tenant, provider):
    with app.app_context():
        kept = LeaveRequestFactory(tenant_id=tenant.id, provider_id=provider.id,
                                   start=datetime(2027, 3, 16, 15, tzinfo=UTC),
                                   end=datetime(2027, 3, 16, 17, tzinfo=UTC))
        LeaveRequestFactory(tenant_id=tenant.id, provider_id=provider.id,
                            start=datetime(2027, 3, 15, 15, tzinfo=UTC),
                            end=datetime(2027, 3, 15, 17, tzinfo=UTC))  # stays pending
    client.post(f"/api/v1/leave-requests/{kept.id}/approve", headers=bearer(tenant.admin_key))
    response = schedule(client, tenant.admin_key, provider.id,
                        "2027-03-15T00:00:00-04:00", "2027-03-17T00:00:00-04:00")
    assert spans(response) == [
        ("working", "2027-03-15T13:00:00Z", "2027-03-15T21:00:00Z"),
        ("working", "2027-03-16T13:00:00Z", "2027-03-16T21:00:00Z"),
        ("leave", "2027-03-16T15:00:00Z", "2027-03-16T17:00:00Z"),
    ]
    leave = response.json["items"][-1]
    assert leave["leave_request_id"] == str(kept.id)
    assert leave["local_start"] == "2027-03-16T11:00:00-04:00"


def test_active_appointments_are_merged_in_time_order(client, app, tenant, provider):
    with app.app_context():
        patient = PatientFactory(tenant_id=tenant.id)
        kept = AppointmentFactory(tenant_id=tenant.id, provider_id=provider.id,
                                  patient_id=patient.id,
                                  start=datetime(2027, 3, 15, 14, tzinfo=UTC))
        gone = AppointmentFactory(tenant_id=tenant.id, provider_id=provider.id,
                                  patient_id=patient.id,
                                  start=datetime(2027, 3, 15, 16, tzinfo=UTC))
    client.post(f"/api/v1/appointments/{gone.id}/cancel", json={"reason": "moved away"},
                headers=bearer(tenant.admin_key))
    response = schedule(client, tenant.admin_key, provider.id,
                        "2027-03-15T00:00:00-04:00", "2027-03-16T00:00:00-04:00")
    assert spans(response) == [
        ("working", "2027-03-15T13:00:00Z", "2027-03-15T21:00:00Z"),
        ("appointment", "2027-03-15T14:00:00Z", "2027-03-15T14:30:00Z"),
    ]
    booked = response.json["items"][-1]
    assert booked["appointment_id"] == str(kept.id)
    assert booked["status"] == "booked"
    assert booked["local_start"] == "2027-03-15T10:00:00-04:00"


def test_effective_from_and_a_provider_without_hours(client, app, tenant):
    with app.app_context():
        later = ProviderFactory(tenant_id=tenant.id, timezone="Europe/Paris")
        WorkingHoursFactory(tenant_id=tenant.id, provider_id=later.id, timezone="Europe/Paris",
                            rules=(WeeklyRule(0, time(9), time(10)),),
                            effective_from=datetime(2027, 3, 22).date())
        idle = ProviderFactory(tenant_id=tenant.id)
    window = ("2027-03-15T00:00:00Z", "2027-03-30T00:00:00Z")
    assert spans(schedule(client, tenant.admin_key, later.id, *window)) == [
        ("working", "2027-03-22T08:00:00Z", "2027-03-22T09:00:00Z"),
        ("working", "2027-03-29T07:00:00Z", "2027-03-29T08:00:00Z"),  # Paris is on CEST now
    ]
    empty = schedule(client, tenant.admin_key, idle.id, *window)
    assert (empty.status_code, empty.json["items"]) == (200, [])


@pytest.mark.parametrize(("start", "end", "field"), [
    ("2027-03-01T00:00:00Z", "2027-04-02T00:00:00Z", "to"),  # 32 days
    ("2027-03-02T00:00:00Z", "2027-03-01T00:00:00Z", "to"),
    ("2027-03-01T00:00:00Z", "2027-03-01T00:00:00Z", "to"),
    ("2027-03-01T00:00:00", "2027-03-02T00:00:00Z", "from"),  # no offset
    ("yesterday", "2027-03-02T00:00:00Z", "from"),
])
def test_bad_windows_are_422(client, tenant, provider, start, end, field):
    response = schedule(client, tenant.admin_key, provider.id, start, end)
    assert response.status_code == 422
    assert field in response.json["errors"]


def test_thirty_one_days_is_allowed(client, tenant, provider):
    response = schedule(client, tenant.admin_key, provider.id,
                        "2027-03-01T00:00:00Z", "2027-04-01T00:00:00Z")
    assert response.status_code == 200
    assert len(response.json["items"]) == 23  # weekdays of March 2027


def test_missing_window_is_422(client, tenant, provider):
    response = client.get(f"/api/v1/providers/{provider.id}/schedule",
                          headers=bearer(tenant.admin_key))
    assert response.status_code == 422
    assert {"from", "to"} <= set(response.json["errors"])


@pytest.mark.parametrize("role", [Role.STAFF, Role.READONLY])
def test_staff_and_readonly_read_schedules(client, app, tenant, provider, role):
    key = key_for(app, tenant, role)
    assert schedule(client, key, provider.id, "2027-03-15T00:00:00Z",
                    "2027-03-16T00:00:00Z").status_code == 200


def test_provider_key_reads_its_own_schedule_only(client, app, tenant, provider):
    with app.app_context():
        other = ProviderFactory(tenant_id=tenant.id)
    key = key_for(app, tenant, Role.PROVIDER, provider_id=provider.id)
    window = ("2027-03-15T00:00:00Z", "2027-03-16T00:00:00Z")
    assert schedule(client, key, provider.id, *window).status_code == 200
    assert schedule(client, key, other.id, *window).status_code == 403


def test_another_tenant_or_unknown_provider_is_404(client, tenant, other_tenant, provider):
    window = ("2027-03-15T00:00:00Z", "2027-03-16T00:00:00Z")
    assert schedule(client, other_tenant.admin_key, provider.id, *window).status_code == 404
    assert schedule(client, tenant.admin_key, uuid.uuid4(), *window).status_code == 404


def test_the_spec_documents_the_schedule(client):
    paths = client.get("/openapi.json").json["paths"]
    assert "appointments" in paths["/api/v1/providers/{provider_id}/schedule"]["get"][
        "description"]
    assert "/api/v1/leave-requests/{leave_id}/approve" in paths


def test_local_times_keep_to_rfc_3339_where_the_offset_had_seconds(client, app, tenant):
    # Liberia kept Monrovia mean time (UTC-00:44:30) until 1972: RFC 3339 offsets are
    # whole minutes, so the instant is shown at -00:44, 30 seconds later on the clock.
    with app.app_context():
        made = ProviderFactory(tenant_id=tenant.id, timezone="Africa/Monrovia")
        WorkingHoursFactory(tenant_id=tenant.id, provider_id=made.id,
                            timezone="Africa/Monrovia")
    response = schedule(client, tenant.admin_key, made.id,
                        "1960-01-04T00:00:00Z", "1960-01-05T00:00:00Z")
    assert response.status_code == 200, response.json
    (monday,) = response.json["items"]
    assert monday["start"] == "1960-01-04T09:44:30Z"
    assert (monday["local_start"], monday["local_end"]) == (
        "1960-01-04T09:00:30-00:44", "1960-01-04T17:00:30-00:44")
    assert datetime.fromisoformat(monday["local_start"]) == datetime.fromisoformat(
        monday["start"])

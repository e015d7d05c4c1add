"""The clinic's minimum notice: bookings and reschedules sooner than it are 409 short-notice."""

from datetime import UTC, datetime, time, timedelta

import pytest

from tests.conftest import bearer
from tests.patient_factories import PatientFactory
from tests.provider_factories import ProviderFactory
from tests.schedule_factories import WorkingHoursFactory
from vitalbridge.schedule.calendar import WeeklyRule

ALL_DAY = tuple(WeeklyRule(day, time(0), time.max) for day in range(7))


@pytest.fixture
def people(app, tenant):
    """A provider working around the clock, and a patient."""
    with app.app_context():
        provider = ProviderFactory(tenant_id=tenant.id)
        WorkingHoursFactory(tenant_id=tenant.id, provider_id=provider.id, rules=ALL_DAY)
        return provider, PatientFactory(tenant_id=tenant.id)


def notice(client, tenant, minutes):
    response = client.patch("/api/v1/settings", json={"min_notice_minutes": minutes},
                            headers=bearer(tenant.admin_key))
    assert response.status_code == 200


def book(client, tenant, people, start):
    provider, patient = people
    return client.post("/api/v1/appointments", headers=bearer(tenant.admin_key), json={
        "provider_id": str(provider.id), "patient_id": str(patient.id),
        "start": start.isoformat(), "duration": 30})


def soon(minutes):
    return (datetime.now(UTC) + timedelta(minutes=minutes)).replace(second=0, microsecond=0)


def test_without_a_setting_any_future_start_is_bookable(client, tenant, people):
    assert book(client, tenant, people, soon(5)).status_code == 201


def test_a_booking_inside_the_notice_is_refused(client, tenant, people):
    notice(client, tenant, 120)
    response = book(client, tenant, people, soon(60))
    assert response.status_code == 409
    assert response.json["type"].endswith("short-notice")
    assert "120 minutes" in response.json["detail"]
    earliest = datetime.fromisoformat(response.json["earliest_start"])
    assert soon(119) <= earliest <= soon(122)
    assert book(client, tenant, people, soon(125)).status_code == 201


def test_a_reschedule_inside_the_notice_is_refused(client, tenant, people):
    booked = book(client, tenant, people, soon(600)).json["id"]
    notice(client, tenant, 240)
    moved = client.post(f"/api/v1/appointments/{booked}/reschedule",
                        json={"start": soon(120).isoformat()}, headers=bearer(tenant.admin_key))
    assert moved.status_code == 409
    assert moved.json["type"].endswith("short-notice")
    fine = client.post(f"/api/v1/appointments/{booked}/reschedule",
                       json={"start": soon(300).isoformat()}, headers=bearer(tenant.admin_key))
    assert fine.status_code == 200

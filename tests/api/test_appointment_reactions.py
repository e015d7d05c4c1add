"""Reactions through the relay: approved leave and a deactivated provider cancel bookings,
each exactly once even when the event is delivered twice."""

import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import text

from tests.api.test_appointments import at, book, events
from tests.api.test_appointments import booked as booked
from tests.api.test_appointments import other_provider as other_provider
from tests.api.test_appointments import patient as patient
from tests.api.test_appointments import provider as provider
from tests.appointment_factories import AppointmentFactory
from tests.conftest import bearer
from tests.factories import dispatch_as_system
from tests.schedule_factories import LeaveRequestFactory
from vitalbridge.appointment.handlers import ProviderOnLeave
from vitalbridge.appointment.messages import RescheduleAppointment
from vitalbridge.messaging.cli import build_relay


def deliver_twice(app, owner_engine):
    """Drain, then make every event undelivered again and drain once more."""
    with app.app_context():
        relay = build_relay()
    relay.drain()
    with owner_engine.begin() as conn:
        conn.execute(text("UPDATE outbox SET delivered_at = NULL, position = NULL"))
        conn.execute(text("DELETE FROM event_positions"))
    relay.drain()
    relay.drain()  # and whatever the reactions themselves emitted


def status_of(client, key, appointment_id):
    return client.get(f"/api/v1/appointments/{appointment_id}", headers=bearer(key)).json


def test_approved_leave_cancels_overlapping_bookings_once(app, client, tenant, provider,
                                                          other_provider, patient,
                                                          owner_engine):
    key = tenant.admin_key
    inside = book(client, key, provider, patient, at(10)).json["id"]
    outside = book(client, key, provider, patient, at(15)).json["id"]
    elsewhere = book(client, key, other_provider, patient, at(11)).json["id"]
    with app.app_context():
        leave = LeaveRequestFactory(tenant_id=tenant.id, provider_id=provider.id,
                                    start=at(9), end=at(12))
    approved = client.post(f"/api/v1/leave-requests/{leave.id}/approve", headers=bearer(key))
    assert approved.json == {"id": str(leave.id), "version": 2, "status": "approved"}
    deliver_twice(app, owner_engine)
    cancelled = status_of(client, key, inside)
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancel_reason"] == "provider_unavailable"
    assert status_of(client, key, outside)["status"] == "booked"
    assert status_of(client, key, elsewhere)["status"] == "booked"
    cancellations = [e for e in events(owner_engine) if e["type"] == "appointment.cancelled"]
    assert [e["aggregate_id"] for e in cancellations] == [inside]
    assert cancellations[0]["causation_id"] is not None  # caused by the leave.approved event
    free = client.get("/api/v1/availability", headers=bearer(key), query_string={
        "provider_id": str(provider.id), "from": at(0).isoformat(),
        "to": at(0, day=1).isoformat()}).json["providers"][0]["slots"]
    assert free
    assert not [s for s in free if leave_hours(s)]


def leave_hours(slot):
    """Whether a half-hour slot starting at ``slot`` overlaps the 09:00-12:00 leave."""
    start = datetime.fromisoformat(slot)
    return start < at(12) and start + timedelta(minutes=30) > at(9)


def test_deactivating_a_provider_cancels_its_future_bookings(app, client, tenant, provider,
                                                             patient, owner_engine):
    key = tenant.admin_key
    first = book(client, key, provider, patient, at(10)).json["id"]
    second = book(client, key, provider, patient, at(14, day=1)).json["id"]
    client.post(f"/api/v1/providers/{provider.id}/deactivate", headers=bearer(key))
    deliver_twice(app, owner_engine)
    assert {status_of(client, key, a)["status"] for a in (first, second)} == {"cancelled"}
    cancellations = [e for e in events(owner_engine) if e["type"] == "appointment.cancelled"]
    assert sorted(e["aggregate_id"] for e in cancellations) == sorted([first, second])


# --- A leave approved while a booking is in flight (issue: the leave/booking race) -------

def _stale_booking(tenant, provider, patient, start):
    """A booking whose schedule facts were read before the leave was approved: what a
    view sends when the approval and its reaction land between its read and its command."""
    return AppointmentFactory.build(provider_id=provider.id, patient_id=patient.id,
                                    start=start), tenant.id


def _approve(app, client, key, tenant, provider, start, end):
    with app.app_context():
        leave = LeaveRequestFactory(tenant_id=tenant.id, provider_id=provider.id,
                                    start=start, end=end)
    assert client.post(f"/api/v1/leave-requests/{leave.id}/approve",
                       headers=bearer(key)).status_code == 200
    return leave.id


def _booked_inside_approved_leave(owner_engine):
    with owner_engine.connect() as conn:
        return conn.execute(text(
            "SELECT a.id FROM appointments a JOIN leave_requests l "
            "ON l.tenant_id = a.tenant_id AND l.provider_id = a.provider_id "
            "AND l.status = 'approved' AND l.starts_at < a.ends_at AND a.starts_at < l.ends_at "
            "WHERE a.status IN ('booked', 'checked_in')")).scalars().all()


def test_a_booking_read_before_a_leave_was_approved_and_reacted_to_is_refused(
        app, client, tenant, provider, patient, owner_engine):
    # The interleaving, step by step: the booking's facts are read (no leave); the leave
    # is approved and its reaction runs (nothing to cancel yet); then the booking's
    # command commits. Nothing would ever cancel it: it must not be booked.
    command, tenant_id = _stale_booking(tenant, provider, patient, at(10))
    _approve(app, client, tenant.admin_key, tenant, provider, at(9), at(12))
    deliver_twice(app, owner_engine)
    with app.app_context(), pytest.raises(ProviderOnLeave):
        dispatch_as_system(command, tenant_id)
    assert _booked_inside_approved_leave(owner_engine) == []


def test_a_reschedule_into_leave_already_reacted_to_is_refused(app, client, tenant, provider,
                                                               patient, owner_engine):
    appointment = book(client, tenant.admin_key, provider, patient, at(15)).json
    _approve(app, client, tenant.admin_key, tenant, provider, at(9), at(12))
    deliver_twice(app, owner_engine)
    stale = RescheduleAppointment(appointment_id=uuid.UUID(appointment["id"]), start=at(10),
                                  end=at(10, minute=30), provider_active=True,
                                  working=((at(8), at(17)),), leave=(),
                                  min_notice=timedelta(0), expected_version=None)
    with app.app_context(), pytest.raises(ProviderOnLeave):
        dispatch_as_system(stale, tenant.id)
    assert _booked_inside_approved_leave(owner_engine) == []


def test_withdrawn_leave_can_be_booked_again(app, client, tenant, provider, patient,
                                             owner_engine):
    leave_id = _approve(app, client, tenant.admin_key, tenant, provider, at(9), at(12))
    deliver_twice(app, owner_engine)
    assert client.post(f"/api/v1/leave-requests/{leave_id}/cancel",
                       headers=bearer(tenant.admin_key)).status_code == 200
    deliver_twice(app, owner_engine)
    command, tenant_id = _stale_booking(tenant, provider, patient, at(10))
    with app.app_context():
        dispatch_as_system(command, tenant_id)

"""Reschedule Appointment through HTTP: the new period passes the rules of a new booking."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from tests.api.test_appointments import act, at, events, key_for, problem_type, system
from tests.api.test_appointments import booked as booked
from tests.api.test_appointments import other_patient as other_patient
from tests.api.test_appointments import other_provider as other_provider
from tests.api.test_appointments import patient as patient
from tests.api.test_appointments import provider as provider
from tests.appointment_factories import AppointmentFactory
from tests.conftest import bearer
from tests.factories import ApiKeyFactory
from tests.schedule_factories import LeaveRequestFactory
from vitalbridge.messaging.messages import Role
from vitalbridge.provider.messages import DeactivateProvider
from vitalbridge.schedule.messages import ApproveLeaveRequest


def move(client, key, appointment_id, start, **extra):
    """POST a reschedule to ``start`` (plus ``end``/``duration`` or headers in ``extra``)."""
    headers = {name: extra.pop(name) for name in ("If-Match", "Idempotency-Key")
               if name in extra}
    body = {"start": start.isoformat(), **extra}
    return act(client, key, appointment_id, "reschedule", body, **headers)


def utc(moment):
    """``moment`` as the API returns it: UTC with a Z."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def row_of(owner_engine, appointment_id):
    with owner_engine.connect() as conn:
        return conn.execute(text(
            "SELECT starts_at, ends_at, status, version FROM appointments WHERE id = :id"),
            {"id": appointment_id}).one()


def fetch(client, key, appointment_id):
    response = client.get(f"/api/v1/appointments/{appointment_id}", headers=bearer(key))
    assert response.status_code == 200
    return response


# Success -----------------------------------------------------------------------------


def test_staff_moves_a_booking_and_reads_it_back(app, client, tenant, provider, patient,
                                                 booked, owner_engine):
    with app.app_context():
        staff = ApiKeyFactory(tenant_id=tenant.id, role=Role.STAFF)
    moved = move(client, staff.key, booked.id, at(14))
    assert moved.status_code == 200
    assert moved.json == {"id": str(booked.id), "version": 2, "status": "booked"}
    assert moved.headers["ETag"] == '"2"'
    one = fetch(client, staff.key, booked.id)
    assert (one.json["start"], one.json["end"]) == (utc(at(14)), utc(at(14, 30)))
    assert (one.json["version"], one.json["status"]) == (2, "booked")
    assert one.json["updated_by_key_id"] == str(staff.id)
    assert one.json["created_by_key_id"] != str(staff.id)
    assert [e["type"] for e in events(owner_engine)] == ["appointment.created",
                                                         "appointment.rescheduled"]
    rescheduled = events(owner_engine)[-1]
    assert rescheduled["aggregate_id"] == str(booked.id)
    assert rescheduled["actor"]["key_id"] == str(staff.id)
    data = rescheduled["data"]
    assert (data["provider_id"], data["patient_id"]) == (str(provider.id), str(patient.id))
    assert [datetime.fromisoformat(data[name]) for name in (
        "start", "end", "previous_start", "previous_end")] == [at(14), at(14, 30), at(10),
                                                               at(10, 30)]


@pytest.mark.parametrize(("extra", "end"), [
    ({}, at(13, 30)),                           # keeps its 30 minutes
    ({"duration": 45}, at(13, 45)),
    ({"end": at(14, 10).isoformat()}, at(14, 10)),
])
def test_the_new_end(client, tenant, booked, extra, end):
    assert move(client, tenant.admin_key, booked.id, at(13), **extra).status_code == 200
    assert fetch(client, tenant.admin_key, booked.id).json["end"] == utc(end)


def test_a_custom_length_is_kept_when_no_end_is_sent(app, client, tenant, provider, patient):
    with app.app_context():
        long = AppointmentFactory(tenant_id=tenant.id, provider_id=provider.id,
                                  patient_id=patient.id, start=at(9), end=at(10, 15))
    assert move(client, tenant.admin_key, long.id, at(15)).status_code == 200
    assert fetch(client, tenant.admin_key, long.id).json["end"] == utc(at(16, 15))


@pytest.mark.parametrize(("start", "extra"), [
    (at(10, 15), {}),                # later, overlapping its old period
    (at(9, 45), {}),                 # earlier, overlapping it
    (at(10), {"duration": 60}),      # the same start, longer
])
def test_moving_over_its_own_old_period_is_fine(client, tenant, booked, start, extra):
    response = move(client, tenant.admin_key, booked.id, start, **extra)
    assert response.status_code == 200
    assert response.json["version"] == 2


def test_the_same_period_again_changes_nothing(client, tenant, booked, owner_engine):
    again = move(client, tenant.admin_key, booked.id, at(10), duration=30)
    assert again.status_code == 200
    assert again.json == {"id": str(booked.id), "version": 1, "status": "booked"}
    assert [e["type"] for e in events(owner_engine)] == ["appointment.created"]


def test_a_moved_slot_opens_for_others(client, tenant, provider, other_patient, booked):
    assert move(client, tenant.admin_key, booked.id, at(15)).status_code == 200
    response = client.post("/api/v1/appointments", json={
        "provider_id": str(provider.id), "patient_id": str(other_patient.id),
        "start": at(10).isoformat()}, headers=bearer(tenant.admin_key))
    assert response.status_code == 201


def test_an_if_match_of_the_current_version_passes_and_a_stale_one_is_412(
        client, tenant, booked, owner_engine):
    assert move(client, tenant.admin_key, booked.id, at(11),
                **{"If-Match": '"1"'}).status_code == 200
    stale = move(client, tenant.admin_key, booked.id, at(12), **{"If-Match": '"1"'})
    assert stale.status_code == 412
    assert row_of(owner_engine, booked.id).starts_at == at(11)


# The 409 rules -----------------------------------------------------------------------


def test_an_unknown_appointment_is_404_audited_and_kept_for_the_key(client, tenant,
                                                                     owner_engine):
    unknown = uuid.uuid4()
    start = datetime.now(UTC) + timedelta(days=3)
    first = move(client, tenant.admin_key, unknown, start, **{"Idempotency-Key": "m1"})
    again = move(client, tenant.admin_key, unknown, start, **{"Idempotency-Key": "m1"})
    assert first.status_code == again.status_code == 404
    assert again.headers["Idempotent-Replayed"] == "true"
    with owner_engine.connect() as conn:
        audited = conn.execute(text("SELECT command, target_id, outcome FROM audit_log "
                                    "WHERE target_id = :id"), {"id": unknown}).all()
    assert [tuple(row) for row in audited] == [
        ("RescheduleAppointment", unknown, "refused:not-found")]


def assert_refused(response, rule, owner_engine, appointment_id, before):
    """409 naming ``rule``; the row as ``before`` and no appointment.rescheduled event."""
    assert (response.status_code, problem_type(response)) == (409, rule)
    assert row_of(owner_engine, appointment_id) == before
    assert "appointment.rescheduled" not in [e["type"] for e in events(owner_engine)]


def test_onto_another_appointment_of_the_provider(app, client, tenant, provider,
                                                  other_patient, booked, owner_engine):
    with app.app_context():
        AppointmentFactory(tenant_id=tenant.id, provider_id=provider.id,
                           patient_id=other_patient.id, start=at(14))
    before = row_of(owner_engine, booked.id)
    response = move(client, tenant.admin_key, booked.id, at(14, 15))
    assert_refused(response, "slot-unavailable", owner_engine, booked.id, before)


def test_onto_another_appointment_of_the_patient(app, client, tenant, other_provider, patient,
                                                 booked, owner_engine):
    with app.app_context():
        AppointmentFactory(tenant_id=tenant.id, provider_id=other_provider.id,
                           patient_id=patient.id, start=at(14))
    before = row_of(owner_engine, booked.id)
    response = move(client, tenant.admin_key, booked.id, at(13, 45))
    assert_refused(response, "patient-double-booked", owner_engine, booked.id, before)


@pytest.mark.parametrize(("start", "extra"), [
    (at(8, 30), {}),                    # begins before opening
    (at(16, 45), {}),                   # runs past closing
    (at(10, day=5), {}),                # Saturday: no rules
    (at(16), {"duration": 120}),        # longer than what is left of the day
])
def test_outside_working_hours(client, tenant, booked, owner_engine, start, extra):
    before = row_of(owner_engine, booked.id)
    response = move(client, tenant.admin_key, booked.id, start, **extra)
    assert_refused(response, "outside-working-hours", owner_engine, booked.id, before)


def test_into_approved_leave(app, client, tenant, provider, booked, owner_engine):
    with app.app_context():
        leave = LeaveRequestFactory(tenant_id=tenant.id, provider_id=provider.id,
                                    start=at(13), end=at(15))
    system(app, tenant.id, ApproveLeaveRequest(leave_id=leave.id))
    before = row_of(owner_engine, booked.id)
    response = move(client, tenant.admin_key, booked.id, at(14, 45))
    assert_refused(response, "provider-on-leave", owner_engine, booked.id, before)
    assert move(client, tenant.admin_key, booked.id, at(15)).status_code == 200


def test_into_the_past(client, tenant, booked, owner_engine):
    before = row_of(owner_engine, booked.id)
    response = move(client, tenant.admin_key, booked.id, at(10) - timedelta(days=28))
    assert_refused(response, "in-the-past", owner_engine, booked.id, before)


def test_with_a_deactivated_provider(app, client, tenant, provider, booked, owner_engine):
    # The relay does not run here, so the booking is still booked (no reaction yet).
    system(app, tenant.id, DeactivateProvider(provider_id=provider.id))
    before = row_of(owner_engine, booked.id)
    response = move(client, tenant.admin_key, booked.id, at(14))
    assert_refused(response, "provider-inactive", owner_engine, booked.id, before)


@pytest.mark.parametrize("steps", [("cancel",), ("check-in",), ("check-in", "complete")])
def test_only_a_booked_appointment_moves(client, tenant, booked, owner_engine, steps):
    for step in steps:
        assert act(client, tenant.admin_key, booked.id, step,
                   {"reason": "x"} if step == "cancel" else None).status_code == 200
    before = row_of(owner_engine, booked.id)
    response = move(client, tenant.admin_key, booked.id, at(14))
    assert_refused(response, "illegal-transition", owner_engine, booked.id, before)


def test_a_no_show_does_not_move(client, tenant, booked, owner_engine):
    with owner_engine.begin() as conn:  # let the appointment's start pass
        conn.execute(text("UPDATE appointments SET starts_at = now() - interval '10 minutes',"
                          " ends_at = now() + interval '20 minutes'"))
    assert act(client, tenant.admin_key, booked.id, "no-show").status_code == 200
    before = row_of(owner_engine, booked.id)
    response = move(client, tenant.admin_key, booked.id, at(14))
    assert_refused(response, "illegal-transition", owner_engine, booked.id, before)


# Who and what ------------------------------------------------------------------------


def test_unknown_and_foreign_appointments_are_404(client, tenant, other_tenant, booked,
                                                  owner_engine):
    assert move(client, tenant.admin_key, uuid.uuid4(), at(14)).status_code == 404
    foreign = move(client, other_tenant.admin_key, booked.id, at(14))
    assert foreign.status_code == 404
    assert row_of(owner_engine, booked.id).starts_at == at(10)


@pytest.mark.parametrize("role", [Role.READONLY, Role.PROVIDER])
def test_only_admin_and_staff_reschedule(app, client, tenant, provider, booked, role):
    key = key_for(app, tenant, role,
                  **({"provider_id": provider.id} if role == Role.PROVIDER else {}))
    assert move(client, key, booked.id, at(14)).status_code == 403


@pytest.mark.parametrize(("body", "field"), [
    ({}, "start"),
    ({"end": at(14).isoformat()}, "start"),
    ({"start": at(14).isoformat(), "end": at(13).isoformat()}, "end"),
    ({"start": at(14).isoformat(), "end": at(14, 2).isoformat()}, "end"),
    ({"start": at(9).isoformat(), "end": at(17, 1).isoformat()}, "end"),
    ({"start": at(14).isoformat(), "end": at(15).isoformat(), "duration": 30}, "duration"),
    ({"start": at(14).isoformat(), "duration": 481}, "duration"),
    ({"start": at(14).isoformat(), "duration": 4}, "duration"),
    ({"start": at(14).replace(tzinfo=None).isoformat()}, "start"),
    ({"start": "tomorrow"}, "start"),
    ({"start": at(14).isoformat(), "provider_id": str(uuid.uuid4())}, "provider_id"),
])
def test_bad_bodies_are_422_naming_the_field(client, tenant, booked, owner_engine, body, field):
    response = act(client, tenant.admin_key, booked.id, "reschedule", body)
    assert response.status_code == 422
    assert field in response.json["errors"]
    assert row_of(owner_engine, booked.id).version == 1


def test_a_retry_with_its_idempotency_key_moves_once(client, tenant, booked, owner_engine):
    headers = {"Idempotency-Key": "move-14h"}
    first = act(client, tenant.admin_key, booked.id, "reschedule",
                {"start": at(14).isoformat()}, **headers)
    again = act(client, tenant.admin_key, booked.id, "reschedule",
                {"start": at(14).isoformat()}, **headers)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json == first.json == {"id": str(booked.id), "version": 2, "status": "booked"}
    assert again.headers["Idempotent-Replayed"] == "true"
    assert [e["type"] for e in events(owner_engine)].count("appointment.rescheduled") == 1

"""Appointments through HTTP: booking rules, the lifecycle, queries, roles and tenants."""

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from flask import current_app
from sqlalchemy import text

from tests.appointment_factories import AppointmentFactory, next_monday
from tests.conftest import bearer
from tests.factories import ApiKeyFactory
from tests.patient_factories import PatientFactory
from tests.provider_factories import ProviderFactory
from tests.schedule_factories import LeaveRequestFactory, WorkingHoursFactory
from vitalbridge.messaging.messages import Principal, Role
from vitalbridge.messaging.uow import CommandContext
from vitalbridge.provider.messages import DeactivateProvider
from vitalbridge.schedule.messages import ApproveLeaveRequest

NY = ZoneInfo("America/New_York")
MONDAY = next_monday()


def at(hour, minute=0, day=0):
    """A New York wall-clock time on the Monday (plus ``day`` days) the tests book on."""
    return (MONDAY + timedelta(days=day)).replace(hour=hour, minute=minute, tzinfo=NY)


def events(owner_engine, prefix="appointment."):
    with owner_engine.connect() as conn:
        return conn.execute(text(
            "SELECT envelope FROM outbox WHERE type LIKE :p ORDER BY seq"),
            {"p": prefix + "%"}).scalars().all()


def system(app, tenant_id, command):
    with app.app_context():
        return current_app.extensions["vitalbridge"].commands.dispatch(
            command, CommandContext(principal=Principal.system(tenant_id), request_id="t"))


def key_for(app, tenant, role, **kwargs):
    with app.app_context():
        return ApiKeyFactory(tenant_id=tenant.id, role=role, **kwargs).key


@pytest.fixture
def provider(app, tenant):
    with app.app_context():
        made = ProviderFactory(tenant_id=tenant.id, given_name="Ada", family_name="Lovelace")
        WorkingHoursFactory(tenant_id=tenant.id, provider_id=made.id)
        return made


@pytest.fixture
def other_provider(app, tenant):
    with app.app_context():
        made = ProviderFactory(tenant_id=tenant.id)
        WorkingHoursFactory(tenant_id=tenant.id, provider_id=made.id)
        return made


@pytest.fixture
def patient(app, tenant):
    with app.app_context():
        return PatientFactory(tenant_id=tenant.id, given_name="Grace", family_name="Hopper")


@pytest.fixture
def other_patient(app, tenant):
    with app.app_context():
        return PatientFactory(tenant_id=tenant.id)


@pytest.fixture
def booked(app, tenant, provider, patient):
    with app.app_context():
        return AppointmentFactory(tenant_id=tenant.id, provider_id=provider.id,
                                  patient_id=patient.id, start=at(10))


def book(client, key, provider, patient, start, **extra):
    body = {"provider_id": str(provider.id), "patient_id": str(patient.id),
            "start": start.isoformat(), **extra}
    return client.post("/api/v1/appointments", json=body, headers=bearer(key))


def act(client, key, appointment_id, action, body=None, **headers):
    return client.post(f"/api/v1/appointments/{appointment_id}/{action}", json=body,
                       headers={**bearer(key), **headers})


def problem_type(response):
    return response.json["type"].rsplit(":", 1)[-1].rsplit("/", 1)[-1]


# Create ------------------------------------------------------------------------------


def test_staff_books_and_reads_it_back_with_names(app, client, tenant, provider, patient,
                                                  owner_engine):
    staff = key_for(app, tenant, Role.STAFF)
    created = book(client, staff, provider, patient, at(10), reason="Annual check")
    assert created.status_code == 201
    assert created.json == {"id": created.json["id"], "version": 1, "status": "booked"}
    assert created.headers["Location"].endswith(f"/api/v1/appointments/{created.json['id']}")
    one = client.get(created.headers["Location"], headers=bearer(staff))
    assert one.status_code == 200
    assert one.headers["ETag"] == '"1"'
    assert one.json["start"] == at(10).astimezone(UTC).isoformat().replace("+00:00", "Z")
    assert one.json["end"] == at(10, 30).astimezone(UTC).isoformat().replace("+00:00", "Z")
    assert (one.json["provider_name"], one.json["patient_name"]) == ("Ada Lovelace",
                                                                     "Grace Hopper")
    assert (one.json["status"], one.json["reason"]) == ("booked", "Annual check")
    assert one.json["updated_at"].endswith("Z")
    [envelope] = events(owner_engine)
    assert envelope["type"] == "appointment.created"
    assert envelope["aggregate_id"] == created.json["id"]
    assert envelope["data"]["provider_id"] == str(provider.id)
    assert envelope["data"]["patient_id"] == str(patient.id)


@pytest.mark.parametrize(("extra", "minutes"), [({"duration": 45}, 45), ({}, 30)])
def test_duration_sets_the_end(client, tenant, provider, patient, extra, minutes):
    created = book(client, tenant.admin_key, provider, patient, at(11), **extra)
    assert created.status_code == 201
    one = client.get(created.headers["Location"], headers=bearer(tenant.admin_key))
    length = (datetime.fromisoformat(one.json["end"])
              - datetime.fromisoformat(one.json["start"]))
    assert length == timedelta(minutes=minutes)


def test_end_may_be_given_instead(client, tenant, provider, patient):
    created = book(client, tenant.admin_key, provider, patient, at(11),
                   end=at(12).isoformat())
    assert created.status_code == 201


@pytest.mark.parametrize(("extra", "field"), [
    ({"duration": 30, "end": "2030-01-01T00:00:00Z"}, "duration"),
    ({"duration": 4}, "duration"),
    ({"duration": 481}, "duration"),
    ({"end": "2000-01-01T00:00:00Z"}, "end"),
    ({"color": "red"}, "color"),
])
def test_invalid_bodies_are_422_naming_the_field(client, tenant, provider, patient, extra,
                                                 field):
    response = book(client, tenant.admin_key, provider, patient, at(10), **extra)
    assert response.status_code == 422
    assert field in response.json["errors"]


def test_a_start_without_offset_is_422(client, tenant, provider, patient):
    response = book(client, tenant.admin_key, provider, patient, at(10).replace(tzinfo=None))
    assert response.status_code == 422
    assert "start" in response.json["errors"]


def test_unknown_or_foreign_references_are_422(app, client, tenant, other_tenant, provider,
                                               patient):
    with app.app_context():
        foreign = PatientFactory(tenant_id=other_tenant.id)
    nobody = type("Ref", (), {"id": uuid.uuid4()})
    response = book(client, tenant.admin_key, nobody, patient, at(10))
    assert (response.status_code, list(response.json["errors"])) == (422, ["provider_id"])
    response = book(client, tenant.admin_key, provider, foreign, at(10))
    assert (response.status_code, list(response.json["errors"])) == (422, ["patient_id"])


@pytest.mark.parametrize("role", [Role.READONLY, Role.PROVIDER])
def test_only_admin_and_staff_book(app, client, tenant, provider, patient, role):
    key = key_for(app, tenant, role,
                  **({"provider_id": provider.id} if role == Role.PROVIDER else {}))
    assert book(client, key, provider, patient, at(10)).status_code == 403


# The 409 rules -----------------------------------------------------------------------


def test_inactive_provider(app, client, tenant, provider, patient):
    system(app, tenant.id, DeactivateProvider(provider_id=provider.id))
    response = book(client, tenant.admin_key, provider, patient, at(10))
    assert (response.status_code, problem_type(response)) == (409, "provider-inactive")


@pytest.mark.parametrize(("start", "extra"), [
    (at(8, 30), {}),                    # begins before opening
    (at(16, 45), {}),                   # runs past closing
    (at(10, day=5), {}),                # Saturday: no rules
    (at(16), {"duration": 120}),        # longer than what is left of the day
])
def test_outside_working_hours(client, tenant, provider, patient, start, extra):
    response = book(client, tenant.admin_key, provider, patient, start, **extra)
    assert (response.status_code, problem_type(response)) == (409, "outside-working-hours")


def test_no_working_hours_at_all_is_outside_them(app, client, tenant, patient):
    with app.app_context():
        idle = ProviderFactory(tenant_id=tenant.id)
    response = book(client, tenant.admin_key, idle, patient, at(10))
    assert (response.status_code, problem_type(response)) == (409, "outside-working-hours")


def test_approved_leave_blocks_but_pending_does_not(app, client, tenant, provider, patient):
    with app.app_context():
        leave = LeaveRequestFactory(tenant_id=tenant.id, provider_id=provider.id,
                                    start=at(12), end=at(14))
    assert book(client, tenant.admin_key, provider, patient, at(13)).status_code == 201
    system(app, tenant.id, ApproveLeaveRequest(leave_id=leave.id))
    response = book(client, tenant.admin_key, provider, patient, at(13, 45), duration=30)
    assert (response.status_code, problem_type(response)) == (409, "provider-on-leave")
    assert book(client, tenant.admin_key, provider, patient, at(14)).status_code == 201


def test_in_the_past(client, tenant, provider, patient):
    response = book(client, tenant.admin_key, provider, patient, at(10) - timedelta(days=28))
    assert (response.status_code, problem_type(response)) == (409, "in-the-past")


def test_overlaps_of_the_provider_and_of_the_patient(client, tenant, provider, other_provider,
                                                     patient, other_patient, booked):
    taken = book(client, tenant.admin_key, provider, other_patient, at(10, 15))
    assert (taken.status_code, problem_type(taken)) == (409, "slot-unavailable")
    busy = book(client, tenant.admin_key, other_provider, patient, at(9, 45))
    assert (busy.status_code, problem_type(busy)) == (409, "patient-double-booked")


def test_back_to_back_is_allowed_and_a_cancelled_slot_opens_again(
        client, tenant, provider, patient, other_patient, booked):
    assert book(client, tenant.admin_key, provider, other_patient, at(10, 30)).status_code == 201
    assert book(client, tenant.admin_key, provider, other_patient, at(9, 30)).status_code == 201
    assert act(client, tenant.admin_key, booked.id, "cancel",
               {"reason": "patient asked"}).status_code == 200
    assert book(client, tenant.admin_key, provider, patient, at(10)).status_code == 201


def test_refusals_leave_no_row_and_no_event(client, tenant, provider, patient, owner_engine,
                                            booked):
    book(client, tenant.admin_key, provider, patient, at(10))
    with owner_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM appointments")).scalar() == 1
    assert len(events(owner_engine)) == 1


# Lifecycle ---------------------------------------------------------------------------


def test_check_in_then_complete(client, tenant, booked, owner_engine):
    checked = act(client, tenant.admin_key, booked.id, "check-in")
    assert checked.json == {"id": str(booked.id), "version": 2, "status": "checked_in"}
    assert checked.headers["ETag"] == '"2"'
    done = act(client, tenant.admin_key, booked.id, "complete", **{"If-Match": '"2"'})
    assert done.json == {"id": str(booked.id), "version": 3, "status": "completed"}
    assert [e["type"] for e in events(owner_engine)] == [
        "appointment.created", "appointment.checked_in", "appointment.completed"]


@pytest.mark.parametrize(("steps", "action"), [
    ((), "complete"),                              # booked cannot complete
    (("check-in",), "check-in"),
    (("check-in",), "no-show"),
    (("check-in", "complete"), "cancel"),
    (("cancel",), "check-in"),
])
def test_illegal_transitions_are_409(client, tenant, booked, steps, action):
    for step in steps:
        assert act(client, tenant.admin_key, booked.id, step, {"reason": "x"}
                   if step == "cancel" else None).status_code == 200
    response = act(client, tenant.admin_key, booked.id, action,
                   {"reason": "x"} if action == "cancel" else None)
    assert (response.status_code, problem_type(response)) == (409, "illegal-transition")


def test_cancel_twice_is_one_cancellation(client, tenant, booked, owner_engine):
    first = act(client, tenant.admin_key, booked.id, "cancel", {"reason": "sick"})
    again = act(client, tenant.admin_key, booked.id, "cancel", {"reason": "sick"})
    assert first.status_code == again.status_code == 200
    assert first.json == again.json == {"id": str(booked.id), "version": 2,
                                        "status": "cancelled"}
    [cancelled] = [e for e in events(owner_engine) if e["type"] == "appointment.cancelled"]
    assert cancelled["data"]["reason"] == "sick"
    assert cancelled["data"]["was"] == "booked"
    one = client.get(f"/api/v1/appointments/{booked.id}", headers=bearer(tenant.admin_key))
    assert one.json["cancel_reason"] == "sick"


def test_cancel_needs_a_reason(client, tenant, booked):
    response = act(client, tenant.admin_key, booked.id, "cancel", {})
    assert (response.status_code, list(response.json["errors"])) == (422, ["reason"])


def test_no_show_only_after_the_start(client, tenant, booked, owner_engine):
    early = act(client, tenant.admin_key, booked.id, "no-show")
    assert (early.status_code, problem_type(early)) == (409, "too-early")
    with owner_engine.begin() as conn:  # let the appointment's start pass
        conn.execute(text("UPDATE appointments SET starts_at = now() - interval '10 minutes',"
                          " ends_at = now() + interval '20 minutes'"))
    late = act(client, tenant.admin_key, booked.id, "no-show")
    assert late.json["status"] == "no_show"
    assert events(owner_engine)[-1]["type"] == "appointment.no_show"


def test_a_stale_if_match_is_412(client, tenant, booked):
    response = act(client, tenant.admin_key, booked.id, "check-in", **{"If-Match": '"7"'})
    assert response.status_code == 412


def test_unknown_and_foreign_appointments_are_404(app, client, tenant, other_tenant, booked):
    assert act(client, tenant.admin_key, uuid.uuid4(), "check-in").status_code == 404
    assert act(client, other_tenant.admin_key, booked.id, "check-in").status_code == 404
    assert client.get(f"/api/v1/appointments/{booked.id}",
                      headers=bearer(other_tenant.admin_key)).status_code == 404


def test_readonly_keys_cannot_change_status(app, client, tenant, booked):
    key = key_for(app, tenant, Role.READONLY)
    assert act(client, key, booked.id, "check-in").status_code == 403


# Queries -----------------------------------------------------------------------------


@pytest.fixture
def week(app, tenant, provider, other_provider, patient, other_patient):
    """Five appointments: four of ``provider`` (Mon 9-10:30, Tue 9), one of another."""
    with app.app_context():
        def make(who, whom, start):
            return AppointmentFactory(tenant_id=tenant.id, provider_id=who.id,
                                      patient_id=whom.id, start=start).id
        return [make(provider, patient, at(9)), make(provider, other_patient, at(9, 30)),
                make(provider, patient, at(10)), make(other_provider, other_patient, at(10, 15)),
                make(provider, patient, at(9, day=1))]


def listed(client, key, **params):
    response = client.get("/api/v1/appointments", query_string=params, headers=bearer(key))
    assert response.status_code == 200, response.json
    return response.json


def test_list_in_start_order_with_names_and_pages(client, tenant, week):
    first = listed(client, tenant.admin_key, limit=3)
    assert [item["id"] for item in first["items"]] == [str(i) for i in week[:3]]
    assert first["items"][0]["provider_name"] == "Ada Lovelace"
    assert first["items"][0]["patient_name"] == "Grace Hopper"
    rest = listed(client, tenant.admin_key, limit=3, cursor=first["next_cursor"])
    assert {item["id"] for item in rest["items"]} == {str(i) for i in week[3:]}
    assert rest["next_cursor"] is None


def test_list_filters(client, tenant, provider, patient, week):
    def ids(**params):
        return [item["id"] for item in listed(client, tenant.admin_key, **params)["items"]]
    assert ids(provider_id=provider.id) == [str(i) for i in (week[0], week[1], week[2],
                                                            week[4])]
    assert ids(patient_id=patient.id) == [str(i) for i in (week[0], week[2], week[4])]
    assert ids(**{"from": at(10).isoformat(), "to": at(10, 20).isoformat()}) == [
        str(week[2]), str(week[3])]
    act(client, tenant.admin_key, week[4], "cancel", {"reason": "x"})
    assert ids(status="cancelled") == [str(week[4])]


def test_bad_list_arguments_are_422(client, tenant):
    for params in ({"status": "lost"}, {"cursor": "nonsense"}, {"from": "tomorrow"}):
        response = client.get("/api/v1/appointments", query_string=params,
                              headers=bearer(tenant.admin_key))
        assert response.status_code == 422


def test_names_come_from_one_batched_query_each_per_page(app, client, tenant, week,
                                                          monkeypatch):
    queries = app.extensions["vitalbridge"].queries
    asked = []
    original = queries.ask
    monkeypatch.setattr(queries, "ask",
                        lambda query, principal: asked.append(type(query).__name__)
                        or original(query, principal))
    listed(client, tenant.admin_key)
    assert [asked.count(name) for name in ("ListAppointments", "FindProviders", "GetPatients",
                                           "GetProvider", "GetPatient")] == [1, 1, 1, 0, 0]


def test_a_provider_key_sees_only_its_own(app, client, tenant, provider, other_provider, week):
    key = key_for(app, tenant, Role.PROVIDER, provider_id=provider.id)
    assert len(listed(client, key)["items"]) == 4
    assert listed(client, key, provider_id=other_provider.id)["items"] == []
    assert client.get(f"/api/v1/appointments/{week[3]}", headers=bearer(key)).status_code == 404
    assert client.get(f"/api/v1/appointments/{week[0]}", headers=bearer(key)).status_code == 200


def test_other_tenants_see_none(client, other_tenant, week):
    assert listed(client, other_tenant.admin_key)["items"] == []


def test_a_retried_booking_with_its_idempotency_key_books_once(client, tenant, provider,
                                                                patient, owner_engine):
    body = {"provider_id": str(provider.id), "patient_id": str(patient.id),
            "start": at(15).isoformat()}
    headers = {**bearer(tenant.admin_key), "Idempotency-Key": "book-15h"}
    first = client.post("/api/v1/appointments", json=body, headers=headers)
    again = client.post("/api/v1/appointments", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json == first.json
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(events(owner_engine)) == 1

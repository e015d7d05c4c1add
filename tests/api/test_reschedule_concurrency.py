"""Racing reschedules (and bookings): one winner per contested slot, never a 5xx, no overlap.

Every racer passes the handler's rule checks; only the exclusion constraints (behind
the calendar locks) can refuse the losers, so these tests prove that a reschedule
queues behind the same locks as a booking and that its refusal is a 409, not a deadlock.
"""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from tests.api.test_appointment_concurrency import assert_no_overlap
from tests.api.test_appointment_concurrency import providers as providers
from tests.api.test_appointment_concurrency import racing_app as racing_app
from tests.api.test_appointments import at
from tests.appointment_factories import AppointmentFactory
from tests.conftest import bearer
from tests.patient_factories import PatientFactory

RACERS = 20


@pytest.fixture
def patients(racing_app, tenant):
    with racing_app.app_context():
        return [PatientFactory(tenant_id=tenant.id) for _ in range(2 * RACERS)]


def booking(racing_app, tenant, provider, patient, start, minutes=20):
    """An appointment's id, booked outside the race."""
    with racing_app.app_context():
        return AppointmentFactory(tenant_id=tenant.id, provider_id=provider.id,
                                  patient_id=patient.id, start=start,
                                  end=start + timedelta(minutes=minutes)).id


def tuesday(slot):
    """The start of the ``slot``-th 20-minute slot of Tuesday from 09:00: apart from Monday."""
    return at(9, day=1) + timedelta(minutes=20 * slot)


def race(racing_app, key, requests):
    """Post every (path, body) from its own thread and client, all at once; (status, rule)."""
    def post(request):
        path, body = request
        response = racing_app.test_client().post(path, json=body, headers=bearer(key))
        return response.status_code, response.get_json().get("type", "").rsplit(":", 1)[-1]
    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        return list(pool.map(post, requests))


def reschedule(appointment_id, start, minutes=20):
    return (f"/api/v1/appointments/{appointment_id}/reschedule",
            {"start": start.isoformat(), "duration": minutes})


def create(provider, patient, start, minutes=20):
    return ("/api/v1/appointments", {"provider_id": str(provider.id),
                                     "patient_id": str(patient.id),
                                     "start": start.isoformat(), "duration": minutes})


def statuses(results):
    return [status for status, _ in results]


def test_many_reschedules_into_one_slot_have_one_winner(racing_app, tenant, providers,
                                                        patients, owner_engine):
    # Twenty bookings of one provider, spread over Tuesday, all moved onto Monday 10:00.
    ids = [booking(racing_app, tenant, providers[0], patients[i], tuesday(i))
           for i in range(RACERS)]
    results = race(racing_app, tenant.admin_key,
                   [reschedule(ids[i], at(10, 5 * (i % 3))) for i in range(RACERS)])
    assert statuses(results).count(200) == 1
    assert set(results) - {(200, "")} == {(409, "slot-unavailable")}
    assert_no_overlap(owner_engine)


def test_one_patient_moved_onto_one_slot_from_two_providers(racing_app, tenant, providers,
                                                            patients, owner_engine):
    # One patient's bookings with both providers, all moved onto the same Monday hour.
    patient = patients[0]
    ids = [booking(racing_app, tenant, providers[i % 2], patient, tuesday(i))
           for i in range(RACERS)]
    results = race(racing_app, tenant.admin_key,
                   [reschedule(ids[i], at(14, i % 10)) for i in range(RACERS)])
    assert statuses(results).count(200) == 1
    assert set(results) - {(200, "")} <= {(409, "slot-unavailable"),
                                          (409, "patient-double-booked")}
    assert (409, "patient-double-booked") in results
    assert_no_overlap(owner_engine)


def test_reschedules_and_bookings_race_for_one_slot(racing_app, tenant, providers, patients,
                                                    owner_engine):
    # Half move existing bookings onto Monday 11:00, half book it afresh: one wins in all.
    ids = [booking(racing_app, tenant, providers[0], patients[i], tuesday(i))
           for i in range(RACERS // 2)]
    requests = [reschedule(ids[i // 2], at(11, i % 4)) if i % 2 == 0
                else create(providers[0], patients[RACERS + i], at(11, i % 4))
                for i in range(RACERS)]
    results = race(racing_app, tenant.admin_key, requests)
    assert statuses(results).count(200) + statuses(results).count(201) == 1
    assert {result for result in results if result[0] not in (200, 201)} == {
        (409, "slot-unavailable")}
    assert_no_overlap(owner_engine)


def test_crossing_calendars_never_deadlock(racing_app, tenant, providers, patients,
                                           owner_engine):
    # Four kinds of racer for Monday 15:00: (first, p0), (second, p1) moved there, (second,
    # p0), (first, p1) booked there. Each shares the provider with one kind and the patient
    # with another, so without one lock order they would deadlock (a 500). Whichever wins
    # first, exactly one kind still fits beside it: two winners.
    first, second = providers
    ids = [booking(racing_app, tenant, (first, second)[i % 2], patients[i % 2],
                   tuesday(i)) for i in range(RACERS // 2)]
    requests = [reschedule(ids[i // 2], at(15)) if i % 2 == 0
                else create((second, first)[i // 2 % 2], patients[i // 2 % 2], at(15))
                for i in range(RACERS)]
    results = race(racing_app, tenant.admin_key, requests)
    assert statuses(results).count(200) + statuses(results).count(201) == 2
    assert {result for result in results if result[0] not in (200, 201)} <= {
        (409, "slot-unavailable"), (409, "patient-double-booked")}
    assert_no_overlap(owner_engine)


def test_two_bookings_swapping_places_are_both_refused(racing_app, tenant, providers,
                                                       patients, owner_engine):
    # Each move meets the other booking still in place, whichever runs first.
    ten = booking(racing_app, tenant, providers[0], patients[0], at(10))
    eleven = booking(racing_app, tenant, providers[0], patients[1], at(11))
    results = race(racing_app, tenant.admin_key,
                   [reschedule(ten, at(11)), reschedule(eleven, at(10))])
    assert results == [(409, "slot-unavailable")] * 2
    assert_no_overlap(owner_engine)


def test_racing_moves_of_one_booking_with_if_match_have_one_winner(racing_app, tenant,
                                                                   providers, patients,
                                                                   owner_engine):
    # All name version 1: the row lock makes each re-read what the previous racer wrote.
    moved = booking(racing_app, tenant, providers[0], patients[0], at(10))

    def post(minutes):
        path, body = reschedule(moved, at(13, minutes))
        response = racing_app.test_client().post(
            path, json=body, headers={**bearer(tenant.admin_key), "If-Match": '"1"'})
        return response.status_code
    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(post, range(0, 50, 5)))
    assert sorted(results) == [200] + [412] * 9
    assert_no_overlap(owner_engine)

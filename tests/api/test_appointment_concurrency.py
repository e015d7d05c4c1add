"""Racing bookings: 50 threads at once, exactly one winner per contested slot, never a 5xx.

The handler's checks all pass for every racer; only the exclusion constraints can
refuse the losers, so these tests prove the database has the last word (and that its
refusal is a 409).
"""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import text

from tests.api.test_appointments import at
from tests.conftest import bearer
from tests.patient_factories import PatientFactory
from tests.provider_factories import ProviderFactory
from tests.schedule_factories import WorkingHoursFactory
from vitalbridge import create_app

THREADS = 50

OVERLAPPING_ACTIVE = text("""
SELECT count(*)
  FROM appointments a
  JOIN appointments b
    ON a.tenant_id = b.tenant_id AND a.id < b.id AND a.period && b.period
   AND (a.provider_id = b.provider_id OR a.patient_id = b.patient_id)
 WHERE a.status IN ('booked', 'checked_in', 'completed')
   AND b.status IN ('booked', 'checked_in', 'completed')
""")


@pytest.fixture(scope="module")
def racing_app(owner_url):
    # 50 threads need more than the default pool (5 + 5 overflow) to run truly at once.
    application = create_app(database_url=owner_url, env="testing", database_pool_size=30)
    yield application
    application.extensions["vitalbridge"].db.dispose()


@pytest.fixture
def providers(racing_app, tenant):
    with racing_app.app_context():
        made = [ProviderFactory(tenant_id=tenant.id) for _ in range(2)]
        for provider in made:
            WorkingHoursFactory(tenant_id=tenant.id, provider_id=provider.id)
        return made


@pytest.fixture
def patients(racing_app, tenant):
    with racing_app.app_context():
        return [PatientFactory(tenant_id=tenant.id) for _ in range(THREADS)]


def race(racing_app, key, bodies):
    """Post every body from its own thread and test client, all at once; the statuses."""
    def post(body):
        response = racing_app.test_client().post("/api/v1/appointments", json=body,
                                                 headers=bearer(key))
        return response.status_code, response.get_json().get("type", "")
    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        return list(pool.map(post, bodies))


def body(provider, patient, start, minutes=30):
    return {"provider_id": str(provider.id), "patient_id": str(patient.id),
            "start": start.isoformat(), "duration": minutes}


def assert_no_overlap(owner_engine):
    with owner_engine.connect() as conn:
        assert conn.execute(OVERLAPPING_ACTIVE).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM appointments")).scalar() > 0


def test_one_provider_slot_has_one_winner(racing_app, tenant, providers, patients,
                                          owner_engine):
    # Starts 10:00..10:15 for 30 minutes: every pair overlaps (all cover 10:15-10:30).
    bodies = [body(providers[0], patients[i], at(10, 5 * (i % 4)), 30 + 5 * (i % 3))
              for i in range(THREADS)]
    results = race(racing_app, tenant.admin_key, bodies)
    assert [status for status, _ in results].count(201) == 1
    assert {(s, t.rsplit(":", 1)[-1]) for s, t in results if s != 201} == {
        (409, "slot-unavailable")}
    assert_no_overlap(owner_engine)


def test_each_of_several_slots_has_one_winner(racing_app, tenant, providers, patients,
                                              owner_engine):
    # Ten racers for each of five disjoint hours, each racer nudged 0-20 minutes.
    bodies = [body(providers[0], patients[i], at(11 + i % 5, 5 * (i // 5 % 5)))
              for i in range(THREADS)]
    results = race(racing_app, tenant.admin_key, bodies)
    assert [status for status, _ in results].count(201) == 5
    assert {status for status, _ in results} == {201, 409}
    assert_no_overlap(owner_engine)


def test_one_patient_across_two_providers_has_one_winner(racing_app, tenant, providers,
                                                         patients, owner_engine):
    patient = patients[0]
    bodies = [body(providers[i % 2], patient, at(14) + timedelta(minutes=i % 10))
              for i in range(THREADS)]
    results = race(racing_app, tenant.admin_key, bodies)
    assert [status for status, _ in results].count(201) == 1
    assert {(s, t.rsplit(":", 1)[-1]) for s, t in results if s != 201} <= {
        (409, "slot-unavailable"), (409, "patient-double-booked")}
    assert any(t.endswith("patient-double-booked") for _, t in results)
    assert_no_overlap(owner_engine)

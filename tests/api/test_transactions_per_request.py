"""How many database transactions a request costs: the key check shares the view's.

An authenticated query is one read transaction (key check and answer); a command adds
its own unit of work, and the read transaction ends before it starts.
"""

import contextlib
from collections import Counter
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event

from tests.appointment_factories import next_monday
from tests.conftest import bearer
from tests.patient_factories import PatientFactory
from tests.provider_factories import ProviderFactory
from tests.schedule_factories import WorkingHoursFactory


@contextlib.contextmanager
def pool_events(app):
    """Counts of the app engine's checkouts and checkins while the block runs."""
    engine = app.extensions["vitalbridge"].db.engine
    seen: Counter[str] = Counter()
    listeners = {"checkout": lambda *args: seen.update(["checkout"]),
                 "checkin": lambda *args: seen.update(["checkin"])}
    for name, listener in listeners.items():
        event.listen(engine.pool, name, listener)
    try:
        yield seen
    finally:
        for name, listener in listeners.items():
            event.remove(engine.pool, name, listener)


@pytest.fixture
def clinic(app, tenant):
    with app.app_context():
        provider = ProviderFactory(tenant_id=tenant.id)
        WorkingHoursFactory(tenant_id=tenant.id, provider_id=provider.id)
        patient = PatientFactory(tenant_id=tenant.id)
    return tenant, provider, patient


def test_an_authenticated_query_is_one_transaction(app, client, clinic):
    tenant, provider, _ = clinic
    with pool_events(app) as seen:
        answer = client.get(f"/api/v1/providers/{provider.id}", headers=bearer(tenant.admin_key))
    assert answer.status_code == 200
    assert seen == {"checkout": 1, "checkin": 1}


def test_a_booking_is_one_read_transaction_then_one_command(app, client, clinic):
    tenant, provider, patient = clinic
    start = next_monday().replace(hour=10, tzinfo=ZoneInfo("America/New_York"))
    engine = app.extensions["vitalbridge"].db.engine
    open_at_commit = []

    def count_open(conn):
        open_at_commit.append(engine.pool.checkedout())

    with pool_events(app) as seen:
        event.listen(engine, "commit", count_open)
        try:
            answer = client.post("/api/v1/appointments", headers=bearer(tenant.admin_key), json={
                "provider_id": str(provider.id), "patient_id": str(patient.id),
                "start": start.isoformat(), "duration": 30})
        finally:
            event.remove(engine, "commit", count_open)
    assert answer.status_code == 201, answer.get_json()
    assert seen == {"checkout": 2, "checkin": 2}
    # Each commit (the read, then the command) saw one connection out: the read
    # transaction's connection was back in the pool before the command took one.
    assert open_at_commit == [1, 1]


def test_a_revoked_key_stops_at_once_inside_the_shared_transaction(app, client, clinic):
    tenant, provider, _ = clinic
    created = client.post("/api/v1/api-keys", headers=bearer(tenant.admin_key),
                          json={"name": "front desk", "role": "staff"}).get_json()
    assert client.get(f"/api/v1/providers/{provider.id}",
                      headers=bearer(created["key"])).status_code == 200
    client.post(f"/api/v1/api-keys/{created['id']}/revoke", headers=bearer(tenant.admin_key))
    assert client.get(f"/api/v1/providers/{provider.id}",
                      headers=bearer(created["key"])).status_code == 401

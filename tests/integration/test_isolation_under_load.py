"""Tenant isolation under load (hardening, item 4c): 10,000 requests of 50 clinics
interleaved on 8 threads over 2 database connections, so every connection serves one
clinic after another all the time; no answer holds a row of another clinic."""

import random
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC

import pytest

from tests.appointment_factories import AppointmentFactory, next_monday
from tests.conftest import bearer
from tests.factories import TenantFactory
from tests.patient_factories import PatientFactory
from tests.provider_factories import ProviderFactory
from vitalbridge import create_app
from vitalbridge.messaging.cli import build_relay

CLINICS, REQUESTS, THREADS = 50, 10_000, 8
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture
def small_pool_app(owner_url):
    # Pool size 1 with as many overflow connections: 2 connections for 8 threads.
    app = create_app(database_url=owner_url, env="testing", database_pool_size=1)
    yield app
    app.extensions["vitalbridge"].db.dispose()


def _clinic(app, start):
    with app.app_context():
        tenant = TenantFactory()
        provider = ProviderFactory(tenant_id=tenant.id)
        patient = PatientFactory(tenant_id=tenant.id)
        appointment = AppointmentFactory(tenant_id=tenant.id, provider_id=provider.id,
                                         patient_id=patient.id, start=start)
    return {"key": tenant.admin_key, "tenant": str(tenant.id), "provider": str(provider.id),
            "patient": str(patient.id), "appointment": str(appointment.id)}


def _requests(clinic):
    """The reads (and one kind of write) a clinic makes, each naming only its own ids."""
    return [
        ("GET", "/api/v1/patients", None),
        ("GET", f"/api/v1/patients/{clinic['patient']}", None),
        ("GET", f"/api/v1/patients/{clinic['patient']}/summary", None),
        ("GET", f"/api/v1/patients/{clinic['patient']}/appointments", None),
        ("GET", "/api/v1/providers", None),
        ("GET", f"/api/v1/appointments/{clinic['appointment']}", None),
        ("GET", "/api/v1/appointments", None),
        ("GET", "/api/v1/api-keys", None),
        ("GET", "/api/v1/events?after=0&limit=20", None),
        ("GET", "/api/v1/audit?limit=20", None),
        ("PATCH", f"/api/v1/patients/{clinic['patient']}",
         {"email": f"p{random.randrange(10**6)}@example.org"}),
    ]


def test_ten_thousand_interleaved_requests_never_cross_clinics(small_pool_app):
    app = small_pool_app
    start = next_monday(2).replace(hour=15, tzinfo=UTC)
    clinics = [_clinic(app, start) for _ in range(CLINICS)]
    with app.app_context():
        build_relay().drain()
    owner_of = {value: index for index, clinic in enumerate(clinics)
                for name, value in clinic.items() if name != "key"}
    plan = [(index, request) for index, clinic in enumerate(clinics)
            for request in _requests(clinic)]
    calls = [random.Random(n).choice(plan) for n in range(REQUESTS)]
    local = threading.local()

    def call(job):
        index, (method, path, body) = job
        if not hasattr(local, "client"):
            local.client = app.test_client()
        answer = local.client.open(path, method=method, json=body,
                                   headers=bearer(clinics[index]["key"]))
        foreign = {owner_of[u] for u in UUID.findall(answer.get_data(as_text=True))
                   if u in owner_of and owner_of[u] != index}
        return answer.status_code, foreign

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        results = list(pool.map(call, calls))
    assert [status for status, _ in results if status != 200] == []
    assert [foreign for _, foreign in results if foreign] == []
    pool_status = app.extensions["vitalbridge"].db.engine.pool
    assert pool_status.size() == 1  # the test ran on the small pool it meant to

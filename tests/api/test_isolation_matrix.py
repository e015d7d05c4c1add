"""Cross-tenant matrix generated from the served OpenAPI document (hardening, item 4b).

Every operation with an id in its path, called by clinic A with clinic B's id of the
right kind, is 404, and changes nothing of B's; no answer A gets from any list, report or
feed names one of B's ids or its patient. A new endpoint joins the matrix by itself, and
fails it until this file knows a valid body for it.
"""

import re
import uuid
from datetime import UTC, timedelta

import pytest
from sqlalchemy import text

from tests.appointment_factories import AppointmentFactory, next_monday
from tests.conftest import bearer
from tests.factories import ApiKeyFactory, TenantFactory
from tests.patient_factories import PatientFactory
from tests.provider_factories import ProviderFactory
from tests.schedule_factories import LeaveRequestFactory, WorkingHoursFactory
from vitalbridge.messaging.cli import build_relay
from vitalbridge.messaging.messages import Role

MONDAY_NOON = next_monday(2).replace(hour=16, tzinfo=UTC)
DAY = (MONDAY_NOON + timedelta(days=7)).date().isoformat()
WINDOW = {"from": MONDAY_NOON.date().isoformat(),
          "to": (MONDAY_NOON + timedelta(days=6)).date().isoformat()}
INSTANTS = {"from": MONDAY_NOON.isoformat(), "to": (MONDAY_NOON + timedelta(days=6)).isoformat()}

# A valid body for every operation that takes one (keyed "METHOD /path").
BODIES = {
    "PATCH /api/v1/providers/{provider_id}": {"specialty": "Neurology"},
    "PATCH /api/v1/patients/{patient_id}": {"email": "moved@example.org"},
    "PUT /api/v1/providers/{provider_id}/working-hours": {
        "rules": [{"weekday": 0, "start": "09:00", "end": "17:00"}]},
    "PUT /api/v1/providers/{provider_id}/overrides/{day}": {"closed": True},
    "POST /api/v1/providers/{provider_id}/leave-requests": {
        "start": "2027-09-01T09:00:00Z", "end": "2027-09-02T17:00:00Z", "reason": "course"},
    "POST /api/v1/appointments/{appointment_id}/reschedule": {
        "start": (MONDAY_NOON + timedelta(hours=1)).isoformat()},
    "POST /api/v1/appointments/{appointment_id}/cancel": {"reason": "the patient called"},
}
# Required query arguments (keyed the same way).
QUERIES = {
    "GET /api/v1/providers/{provider_id}/schedule": INSTANTS,
    "GET /api/v1/availability": {**INSTANTS, "specialty": "Cardiology"},
    "GET /api/v1/day-sheet": {"date": MONDAY_NOON.date().isoformat()},
    "GET /api/v1/reports/utilization": WINDOW,
    "GET /api/v1/reports/metrics": {**WINDOW, "granularity": "week"},
}
NOT_TENANT_SCOPED = {
    "GET /api/v1/tenants/{tenant_id}": "a platform key's; a tenant key is 403 for any tenant",
}


def _clinic(app):
    with app.app_context():
        tenant = TenantFactory()
        provider = ProviderFactory(tenant_id=tenant.id, specialty="Cardiology")
        WorkingHoursFactory(tenant_id=tenant.id, provider_id=provider.id)
        patient = PatientFactory(tenant_id=tenant.id, family_name=f"Zed{uuid.uuid4().hex[:8]}")
        appointment = AppointmentFactory(tenant_id=tenant.id, provider_id=provider.id,
                                         patient_id=patient.id, start=MONDAY_NOON)
        leave = LeaveRequestFactory(tenant_id=tenant.id, provider_id=provider.id)
        key = ApiKeyFactory(tenant_id=tenant.id, role=Role.STAFF)
    return {"tenant": tenant, "tenant_id": tenant.id, "provider_id": provider.id,
            "patient_id": patient.id, "appointment_id": appointment.id, "leave_id": leave.id,
            "key_id": key.id, "day": DAY, "family_name": patient.family_name}


@pytest.fixture
def clinics(app, client):
    mine, theirs = _clinic(app), _clinic(app)
    override = client.put(f"/api/v1/providers/{theirs['provider_id']}/overrides/{DAY}",
                          json={"intervals": [{"start": "10:00", "end": "12:00"}]},
                          headers=bearer(theirs["tenant"].admin_key))
    assert override.status_code == 200, override.json
    with app.app_context():
        build_relay().drain()  # the read models (summaries, day sheet) hold both clinics
    return mine, theirs


def _operations(client):
    spec = client.get("/openapi.json").json
    for path, item in spec["paths"].items():
        for method in item:
            if method in {"get", "post", "put", "patch", "delete"}:
                yield method.upper(), path


def _call(client, key, method, path, ids):
    name = f"{method} {path}"
    url = re.sub(r"\{(\w+)\}", lambda m: str(ids[m.group(1)]), path)
    kwargs = {"headers": bearer(key), "query_string": QUERIES.get(name, {})}
    if name in BODIES:
        kwargs["json"] = BODIES[name]
    return client.open(url, method=method, **kwargs)


def _state_of(owner_engine, tenant_id):
    """Every row of one tenant, table by table (as the owner, past RLS)."""
    with owner_engine.connect() as conn:
        tables = conn.execute(text(
            "SELECT c.relname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid "
            "AND a.attname = 'tenant_id' JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind = 'r' "
            "AND c.relname NOT IN ('audit_log', 'idempotency_keys')")).scalars().all()
        return {t: sorted(map(str, conn.execute(text(
            f'SELECT t::text FROM "{t}" t WHERE tenant_id = :id'), {"id": tenant_id})))
            for t in tables}


def test_every_operation_with_a_path_id_is_404_for_another_tenants_id(client, clinics,
                                                                       owner_engine):
    mine, theirs = clinics
    before = _state_of(owner_engine, theirs["tenant_id"])
    called = []
    for method, path in _operations(client):
        name = f"{method} {path}"
        if "{" not in path or name in NOT_TENANT_SCOPED:
            continue
        answer = _call(client, mine["tenant"].admin_key, method, path, theirs)
        assert answer.status_code == 404, (  # a 422 of a new operation: add it to BODIES
            f"{name}: {answer.status_code} {answer.json}")
        assert answer.content_type == "application/problem+json"
        called.append(name)
    assert len(called) >= 25, called
    assert _state_of(owner_engine, theirs["tenant_id"]) == before


def test_the_same_calls_with_the_clinics_own_ids_reach_their_resources(client, clinics):
    # The matrix above means something only if its calls are right for an own id.
    mine, _ = clinics
    for method, path in _operations(client):
        name = f"{method} {path}"
        if "{" not in path or name in NOT_TENANT_SCOPED or method != "GET":
            continue
        answer = _call(client, mine["tenant"].admin_key, method, path, mine)
        assert answer.status_code == 200, f"{name}: {answer.status_code} {answer.json}"


def test_no_answer_to_a_clinic_names_another_clinics_rows(client, clinics):
    mine, theirs = clinics
    foreign = {str(theirs[k]) for k in ("tenant_id", "provider_id", "patient_id",
                                        "appointment_id", "leave_id", "key_id")}
    foreign.add(theirs["family_name"])
    read = 0
    for method, path in _operations(client):
        name = f"{method} {path}"
        if method != "GET" or name in NOT_TENANT_SCOPED or path.startswith("/api/v1/tenants"):
            continue
        answer = _call(client, mine["tenant"].admin_key, method, path, mine)
        assert answer.status_code == 200, f"{name}: {answer.status_code} {answer.json}"
        body = answer.get_data(as_text=True)
        assert not {f for f in foreign if f in body}, name
        read += 1
    assert read >= 20

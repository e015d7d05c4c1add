"""Clinic metrics: the stored figures equal a recomputation from the command tables over
a generated month (providers in two zones and two specialties, every status, late and
timely cancellations, returning and new patients), and GET /reports/metrics answers them."""

from __future__ import annotations

import random
import statistics
import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from tests.conftest import bearer
from tests.factories import ApiKeyFactory, dispatch_as_system
from tests.patient_factories import PatientFactory
from tests.provider_factories import ProviderFactory
from tests.read_model_helpers import rebuild
from tests.schedule_factories import WorkingHoursFactory
from vitalbridge.messaging.messages import Role
from vitalbridge.reporting.metrics import compute_tenant, whole_periods
from vitalbridge.reporting.metrics_cli import compute_clinic_metrics
from vitalbridge.tenant.messages import UpdateTenantSettings

STAFF = (("Cardiology", "America/New_York"), ("Cardiology", "Asia/Tokyo"),
         ("Cardiology", "America/New_York"), ("Dermatology", "Asia/Tokyo"),
         ("Dermatology", "America/New_York"))
WORKING_DAY = 8 * 60  # Mon-Fri 09:00-17:00 in each provider's zone, from the beginning
SEEN, ACTIVE = {"checked_in", "completed"}, {"booked", "checked_in", "completed"}
STATUSES = ["completed"] * 12 + ["cancelled"] * 3 + ["no_show"] * 2 + ["checked_in", "booked"]


def previous_month() -> date:
    first_this = datetime.now(UTC).date().replace(day=1)
    return (first_this - timedelta(days=1)).replace(day=1)


@pytest.fixture
def clinic(app, tenant):
    """Providers with hours and patients; returns {provider id: (specialty, zone)}."""
    with app.app_context():
        providers = {}
        for specialty, zone in STAFF:
            made = ProviderFactory(tenant_id=tenant.id, specialty=specialty, timezone=zone)
            WorkingHoursFactory(tenant_id=tenant.id, provider_id=made.id, timezone=zone)
            providers[made.id] = (specialty, zone)
        patients = [PatientFactory(tenant_id=tenant.id).id for _ in range(25)]
    return providers, patients


def generate_month(owner_engine, tenant_id, providers, patients, month):
    """Six 30-minute appointments a day (never overlapping a provider or a patient),
    written behind the buses with their whole history: status, booked and changed at.
    A few patients were seen two months before, so they are not new."""
    rng, ids, rows = random.Random(7), list(providers), []
    days = (month.replace(day=28) + timedelta(days=4)).replace(day=1) - month
    for day in range(days.days):
        for slot in range(6):
            start = datetime.combine(month + timedelta(days=day), time(13), UTC) \
                + timedelta(minutes=30 * slot)
            rows.append(_appointment(rng, tenant_id, ids[(day + slot) % len(ids)],
                                     rng.choice(patients), start, rng.choice(STATUSES)))
    earlier = datetime.combine(month - timedelta(days=58), time(15), UTC)
    rows += [_appointment(rng, tenant_id, ids[0], patient, earlier + timedelta(hours=n),
                          "completed") for n, patient in enumerate(patients[:5])]
    with owner_engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO appointments (tenant_id, id, provider_id, patient_id, starts_at, "
            "ends_at, status, cancel_reason, created_at, updated_at) VALUES (:tenant_id, "
            ":id, :provider_id, :patient_id, :starts_at, :ends_at, :status, :cancel_reason, "
            ":created_at, :updated_at)"), rows)


def _appointment(rng, tenant_id, provider_id, patient_id, start, status):
    booked = start - timedelta(minutes=rng.randint(30, 60 * 24 * 40))
    changed = booked
    if status == "cancelled":  # some within the day before the start (late), some not
        changed = max(booked, start - timedelta(hours=rng.choice([1, 5, 20, 24, 25, 30, 100])))
    return {"tenant_id": tenant_id, "id": uuid.uuid4(), "provider_id": provider_id,
            "patient_id": patient_id, "starts_at": start,
            "ends_at": start + timedelta(minutes=30), "status": status,
            "cancel_reason": "patient" if status == "cancelled" else None,
            "created_at": booked, "updated_at": changed}


def expected_metrics(owner_engine, tenant_id, providers, granularity, periods, late):
    """Every period's figures computed from the appointments table alone."""
    with owner_engine.connect() as conn:
        visits = conn.execute(text(
            "SELECT provider_id, patient_id, starts_at, ends_at, status, created_at, "
            "updated_at FROM appointments WHERE tenant_id = :t"), {"t": tenant_id}).all()
    local = [(v, v.starts_at.astimezone(ZoneInfo(providers[v.provider_id][1])).date())
             for v in visits]
    firsts: dict[tuple, date] = {}
    for v, day in local:
        if v.status in SEEN:
            for key in ((v.patient_id, None), (v.patient_id, providers[v.provider_id][0])):
                firsts[key] = min(firsts.get(key, day), day)
    expected = {}
    start = periods.first
    while start <= periods.last:
        end = periods.end_of(start)
        for specialty in {None, *(s for s, _ in providers.values())}:
            mine = [v for v, day in local if start <= day <= end
                    and specialty in (None, providers[v.provider_id][0])]
            expected[(start, specialty)] = _figures(
                mine, providers, specialty, start, end, late,
                sum(1 for (_, s), d in firsts.items() if s == specialty and start <= d <= end))
        start = end + timedelta(days=1)
    return expected


def _figures(mine, providers, specialty, start, end, late, new_patients):
    weekdays = sum((start + timedelta(days=n)).weekday() < 5
                   for n in range((end - start).days + 1))
    staff = sum(specialty in (None, s) for s, _ in providers.values())
    leads = [(v.starts_at - v.created_at) / timedelta(minutes=1) for v in mine]
    return {
        "period_end": end, "appointments": len(mine),
        "cancellations": sum(v.status == "cancelled" for v in mine),
        "late_cancellations": sum(v.status == "cancelled" and v.updated_at > v.starts_at - late
                                  for v in mine),
        "no_shows": sum(v.status == "no_show" for v in mine),
        "working_minutes": weekdays * staff * WORKING_DAY,
        "booked_minutes": sum(30 for v in mine if v.status in ACTIVE),
        "median_lead_minutes": round(statistics.median(leads), 1) if leads else None,
        "patients_seen": len({v.patient_id for v in mine if v.status in SEEN}),
        "new_patients": new_patients,
    }


def stored_metrics(owner_engine, tenant_id, granularity):
    with owner_engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT * FROM clinic_metrics WHERE tenant_id = :t AND granularity = :g"),
            {"t": tenant_id, "g": granularity}).mappings().all()
    return {(row["period_start"], row["specialty"] or None): {
        key: value for key, value in row.items()
        if key not in ("tenant_id", "granularity", "period_start", "specialty", "computed_at")}
        for row in rows}


@pytest.fixture
def month_of_visits(app, tenant, clinic, owner_engine):
    providers, patients = clinic
    month = previous_month()
    generate_month(owner_engine, tenant.id, providers, patients, month)
    rebuild(app, tenant.id)  # written behind the buses: no event told the read models
    return providers, month


def window_of(owner_engine, tenant_id):
    with owner_engine.connect() as conn:
        return conn.execute(text("SELECT first_date, last_date FROM provider_day_window "
                                 "WHERE tenant_id = :t"), {"t": tenant_id}).one()


@pytest.mark.parametrize("granularity", ["week", "month"])
def test_stored_figures_equal_a_recomputation_from_the_command_tables(
        app, tenant, month_of_visits, owner_engine, granularity):
    providers, _month = month_of_visits
    with app.app_context():
        dispatch_as_system(UpdateTenantSettings(late_cancellation_hours=24), tenant.id)
    svc = app.extensions["vitalbridge"]
    assert compute_tenant(svc.db, svc.queries, tenant.id)
    periods = whole_periods(granularity, *window_of(owner_engine, tenant.id))
    expected = expected_metrics(owner_engine, tenant.id, providers, granularity, periods,
                                timedelta(hours=24))
    stored = stored_metrics(owner_engine, tenant.id, granularity)
    assert set(stored) == set(expected)
    busy = [key for key, figures in expected.items() if figures["appointments"]]
    assert len(busy) >= (3 * 4 if granularity == "week" else 3)  # the month, and before
    for key in sorted(expected, key=lambda k: (k[0], k[1] or "")):
        assert stored[key] == expected[key], key
    assert any(expected[key]["late_cancellations"] for key in busy)
    assert any(0 < expected[key]["new_patients"] < expected[key]["patients_seen"]
               for key in busy)


def test_the_late_cancellation_threshold_is_the_clinics(app, tenant, month_of_visits,
                                                       owner_engine):
    providers, month = month_of_visits
    svc = app.extensions["vitalbridge"]
    with app.app_context():
        dispatch_as_system(UpdateTenantSettings(late_cancellation_hours=72), tenant.id)
    compute_tenant(svc.db, svc.queries, tenant.id)
    key = (month, None)
    stored = stored_metrics(owner_engine, tenant.id, "month")[key]
    periods = whole_periods("month", *window_of(owner_engine, tenant.id))
    by_72 = expected_metrics(owner_engine, tenant.id, providers, "month", periods,
                             timedelta(hours=72))[key]
    by_24 = expected_metrics(owner_engine, tenant.id, providers, "month", periods,
                             timedelta(hours=24))[key]
    assert stored["late_cancellations"] == by_72["late_cancellations"] \
        > by_24["late_cancellations"]


def test_the_api_answers_the_stored_rows_with_their_rates(app, client, tenant,
                                                          month_of_visits, owner_engine):
    _providers, month = month_of_visits
    with app.app_context():
        assert compute_clinic_metrics() >= 1
    stored = stored_metrics(owner_engine, tenant.id, "month")
    response = client.get("/api/v1/reports/metrics", headers=bearer(tenant.admin_key),
                          query_string={"granularity": "month", "from": month.isoformat(),
                                        "to": month.isoformat(), "specialty": "cardiology"})
    assert response.status_code == 200, response.json
    [item] = response.json["items"]
    figures = stored[(month, "Cardiology")]
    assert item["specialty"] == "Cardiology"
    assert item["appointments"] == figures["appointments"]
    assert item["utilization"] == round(figures["booked_minutes"] / figures["working_minutes"], 3)
    assert item["no_show_rate"] == round(
        figures["no_shows"] / (figures["appointments"] - figures["cancellations"]), 3)
    assert item["cancellation_rate"] == round(figures["cancellations"] / figures["appointments"], 3)
    assert item["median_lead_time_minutes"] == figures["median_lead_minutes"]
    assert item["computed_at"].endswith("Z")
    clinic = client.get("/api/v1/reports/metrics", headers=bearer(tenant.admin_key),
                        query_string={"granularity": "week", "from": month.isoformat(),
                                      "to": (month + timedelta(days=30)).isoformat()})
    assert clinic.status_code == 200
    assert {i["specialty"] for i in clinic.json["items"]} == {None}
    assert len(clinic.json["items"]) >= 4
    again = client.get("/api/v1/reports/metrics", headers={
        **bearer(tenant.admin_key), "If-None-Match": clinic.headers["ETag"]},
        query_string={"granularity": "week", "from": month.isoformat(),
                      "to": (month + timedelta(days=30)).isoformat()})
    assert again.status_code == 304


@pytest.mark.parametrize("query", [
    {"granularity": "day", "from": "2026-01-01", "to": "2026-02-01"},
    {"granularity": "week", "from": "2026-03-01", "to": "2026-02-01"},
    {"granularity": "month", "from": "2024-01-01", "to": "2026-02-01"},
    {"granularity": "month", "to": "2026-02-01"},
    {"granularity": "month", "from": "2026-02-30", "to": "2026-03-01"},
])
def test_bad_arguments_are_422(client, tenant, query):
    response = client.get("/api/v1/reports/metrics", headers=bearer(tenant.admin_key),
                          query_string=query)
    assert response.status_code == 422
    assert response.headers["Content-Type"] == "application/problem+json"


def test_only_admins_read_the_metrics(app, client, tenant):
    with app.app_context():
        staff = ApiKeyFactory(tenant_id=tenant.id, role=Role.STAFF)
    response = client.get("/api/v1/reports/metrics", headers=bearer(staff.key),
                          query_string={"granularity": "month", "from": "2026-01-01",
                                        "to": "2026-02-01"})
    assert response.status_code == 403


def test_a_clinic_whose_figures_were_never_built_is_skipped(app, tenant, owner_engine):
    with owner_engine.begin() as conn:
        conn.execute(text("DELETE FROM provider_day_window WHERE tenant_id = :t"),
                     {"t": tenant.id})
    result = app.test_cli_runner().invoke(args=["metrics", "compute", "--tenant",
                                                tenant.slug])
    assert result.exit_code == 0
    assert "skipped" in result.output


def test_the_cli_computes_now(app, tenant, month_of_visits):
    result = app.test_cli_runner().invoke(args=["metrics", "compute", "--tenant",
                                                tenant.slug])
    assert result.exit_code == 0, result.output
    assert " rows in " in result.output



def test_an_unknown_or_empty_argument(client, tenant):
    base = {"granularity": "month", "from": "2026-01-01", "to": "2026-02-01"}
    misspelt = client.get("/api/v1/reports/metrics", headers=bearer(tenant.admin_key),
                          query_string={**base, "specialy": "Cardiology"})
    assert misspelt.status_code == 422
    empty = client.get("/api/v1/reports/metrics", headers=bearer(tenant.admin_key),
                       query_string={**base, "specialty": ""})
    assert empty.status_code == 200
    assert empty.json["specialty"] is None

"""Queries answered from the read models, at 1,000,000 appointments and 100,000 patients.

The clinic of bench.utilization_report (PROVIDERS providers with weekday hours
08:00-18:00 America/New_York, some overrides and approved leave, through the app's
commands; the appointments bulk-loaded by SQL as the owner, 35 a weekday per provider,
on 200 days around today), with PATIENTS patients bulk-loaded the same way and the first
SPECIALISTS providers made cardiologists (35 x 57 = 1,995 appointments a weekday). Every
read model is then rebuilt (``flask read-models rebuild --all``'s code; timed), VACUUM
ANALYZE, ``gc.freeze()``, and the real endpoints are timed through the Flask test client
(authentication, the query bus, row-level security, JSON):

- GET /patients/{id}/summary of random patients among those with appointments;
- GET /day-sheet?date=<a weekday>&specialty=Cardiology (about 2,000 appointments that
  day), first page of 50, and the same for the whole clinic (7,000 that day);
- GET /reports/utilization, 200 providers x 92 days centred on today; then, as the
  floor of the same run, the same report computed live from the command tables.

Printed: Markdown rows (p50, p95, max), the rebuild times, the SELECTs of one request.

    .venv/bin/python -m bench.read_model_queries [--appointments 1000000] [--patients 100000]
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import uuid
from datetime import date, datetime, timedelta
from time import perf_counter
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask
from sqlalchemy import create_engine, event, text

from bench.clinic import owner_database
from bench.utilization_report import ZONE, Clinic, window
from vitalbridge.messaging.cli import build_relay
from vitalbridge.messaging.rebuild import exclusive, rebuild_tenant

SPECIALISTS = 57

_PATIENTS = text("""
WITH made AS (
  INSERT INTO patients (tenant_id, id, mrn, given_name, family_name, birth_date)
  SELECT :tenant, gen_random_uuid(), 'B' || lpad(g::text, 7, '0'), 'Bench', 'Patient ' || g,
         date '1940-01-01' + (g * 37 % 25000)
    FROM generate_series(1, :count) AS g
  RETURNING tenant_id, id, mrn)
INSERT INTO patient_mrns (tenant_id, mrn, patient_id) SELECT tenant_id, mrn, id FROM made
""")
_PATIENT_IDS = text("SELECT id FROM patients WHERE tenant_id = :tenant ORDER BY id")
_SPECIALTY = text("""
UPDATE providers SET specialty = 'Cardiology'
 WHERE id IN (SELECT id FROM providers WHERE tenant_id = :tenant
               ORDER BY family_name LIMIT :count)
""")


def load_patients(clinic: Clinic, count: int) -> list[uuid.UUID]:
    """Bulk-insert ``count`` patients as the owner (commands would take many minutes)."""
    engine = create_engine(clinic.owner_url)
    with engine.begin() as conn:
        conn.execute(_PATIENTS, {"tenant": clinic.tenant_id, "count": count})
        ids = list(conn.execute(_PATIENT_IDS, {"tenant": clinic.tenant_id}).scalars())
    engine.dispose()
    return ids


def make_specialists(clinic: Clinic) -> None:
    engine = create_engine(clinic.owner_url)
    with engine.begin() as conn:
        conn.execute(_SPECIALTY, {"tenant": clinic.tenant_id, "count": SPECIALISTS})
    engine.dispose()


def rebuild_all(clinic: Clinic) -> None:
    """Deliver the clinic's events (the bulk-loaded rows have none), then rebuild every
    read model of the clinic, printing each one's time and rows."""
    svc = clinic.app.extensions["vitalbridge"]
    with clinic.app.app_context():
        relay = build_relay()
    while relay.drain():
        pass
    relay.engine.dispose()
    for model in svc.read_models:
        with clinic.app.app_context(), exclusive(svc.db, model):
            done = rebuild_tenant(svc.db, svc.queries, model, clinic.tenant_id)
        print(f"rebuilt {model.name}: {done.rows:,} rows from {done.keys:,} keys in "
              f"{done.seconds:.1f} s", flush=True)
    # VACUUM as autovacuum would have by the time anyone asks: it marks the pages
    # visible, which index-only scans need.
    engine = create_engine(clinic.owner_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()


def time_gets(app: Flask, key: str, requests: list[tuple[str, dict[str, Any]]],
              warmup: int) -> tuple[list[float], dict[str, Any]]:
    """Durations (ms) of the GETs after ``warmup`` of them; the last body."""
    client = app.test_client()
    headers = {"Authorization": f"Bearer {key}"}
    durations, body = [], {}
    for n, (path, params) in enumerate(requests):
        started = perf_counter()
        response = client.get(path, query_string=params, headers=headers)
        elapsed = (perf_counter() - started) * 1000
        assert response.status_code == 200, response.json
        if n >= warmup:
            durations.append(elapsed)
        body = response.json
    return durations, body


def row(label: str, durations: list[float], answered: str) -> None:
    p95 = statistics.quantiles(durations, n=20, method="inclusive")[-1]
    print(f"| {label} | {statistics.median(durations):.1f} ms | {p95:.1f} ms | "
          f"{max(durations):.1f} ms | {answered} | {len(durations)} |", flush=True)


def selects_of(app: Flask, key: str, path: str, params: dict[str, Any]) -> list[str]:
    engine = app.extensions["vitalbridge"].db.engine
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(" ".join(statement.split())[:100])

    event.listen(engine, "before_cursor_execute", record)
    try:
        time_gets(app, key, [(path, params)], warmup=0)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return [s for s in statements if s.upper().startswith(("SELECT", "WITH"))
            and "set_config" not in s]


def time_live_reports(clinic: Clinic, requests: list[tuple[str, dict[str, Any]]],
                      ) -> tuple[list[float], dict[str, Any]]:
    """The report computed from the command tables, as it is without its read model:
    the window row is removed for the while (the query then answers None, and the view
    computes live), then put back."""
    engine = create_engine(clinic.owner_url)
    with engine.begin() as conn:
        held = conn.execute(text("SELECT * FROM provider_day_window")).mappings().all()
        conn.execute(text("DELETE FROM provider_day_window"))
    try:
        return time_gets(clinic.app, clinic.key, requests, warmup=2)
    finally:
        with engine.begin() as conn:
            for window_row in held:
                conn.execute(text(
                    "INSERT INTO provider_day_window VALUES "
                    "(:tenant_id, :first_date, :last_date, :updated_at)"), dict(window_row))
        engine.dispose()


def busiest_weekday(today: date) -> date:
    """A weekday near today (every weekday holds the same number of appointments)."""
    day = today + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def main() -> None:
    """Build, load, rebuild, time the three queries."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--appointments", type=int, default=1_000_000)
    parser.add_argument("--providers", type=int, default=200)
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200,
                        help="timed summaries (the day sheet and report take a tenth)")
    parser.add_argument("--owner-url", help="owner URL of an empty database to use")
    args = parser.parse_args()
    today = datetime.now(ZoneInfo(ZONE)).date()
    rng = random.Random(7)
    with owner_database(args.owner_url) as owner_url:
        started = perf_counter()
        clinic = Clinic(owner_url)
        providers = clinic.add_providers(args.providers, today)
        patients = load_patients(clinic, args.patients)
        make_specialists(clinic)
        clinic.load_appointments(providers, patients, args.appointments // args.providers,
                                 today)
        print(f"loaded in {perf_counter() - started:.0f} s", flush=True)
        rebuild_all(clinic)
        gc.freeze()
        day = busiest_weekday(today).isoformat()
        # The load books patients in id order, (provider + slot) modulo their number:
        # with 100,000 patients only the first ~5,200 have appointments (about 190 each).
        booked = patients[:5000]
        summaries = [(f"/api/v1/patients/{rng.choice(booked)}/summary", {})
                     for _ in range(args.requests + 10)]
        cardiology = [("/api/v1/day-sheet", {"date": day, "specialty": "Cardiology"})] * (
            args.requests // 10 + 3)
        clinic_day = [("/api/v1/day-sheet", {"date": day})] * (args.requests // 10 + 3)
        report = [("/api/v1/reports/utilization", {**window(today, 92), "limit": 200})] * (
            args.requests // 10 + 3)
        try:
            print("| query | p50 | p95 | max | answered | requests |")
            print("|---|---|---|---|---|---|")
            durations, body = time_gets(clinic.app, clinic.key, summaries, warmup=10)
            row("patient summary (random booked patients)", durations,
                f"upcoming_count {body['upcoming_count']}, meta {body['meta']['status']}")
            for label, requests in (("day sheet, Cardiology, first page", cardiology),
                                    ("day sheet, whole clinic, first page", clinic_day)):
                durations, body = time_gets(clinic.app, clinic.key, requests, warmup=3)
                row(label, durations, f"{len(body['items'])} lines, more: "
                    f"{body['next_cursor'] is not None}, meta {body['meta']['status']}")
            durations, body = time_gets(clinic.app, clinic.key, report, warmup=3)
            days = sum(len(item["days"]) for item in body["items"])
            row("utilization 200 providers x 92 days", durations,
                f"{days:,} provider-days, meta {body['meta']['status']}")
            live, live_body = time_live_reports(clinic, report[:8])
            assert live_body["items"] == body["items"], "the live report differs"
            row("floor: the same report computed live (same run)", live,
                "the same items as from the read model")
            for label, (path, params) in (("summary", summaries[0]),
                                          ("day sheet", cardiology[0]),
                                          ("utilization", report[0])):
                reads = selects_of(clinic.app, clinic.key, path, params)
                print(f"\nSELECTs of one {label} request: {len(reads)}")
                for statement in reads:
                    print(f"  {statement}")
        finally:
            clinic.app.extensions["vitalbridge"].db.dispose()


if __name__ == "__main__":
    main()

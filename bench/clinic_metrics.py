"""The clinic metrics job at scale: one tenant with 2,000 providers and 100,000
appointments a month (scheduled-operations issue: under 30 s).

Builds the clinic in a throwaway database (as the other benchmarks): PROVIDERS providers
with weekday hours 08:00-18:00 America/New_York through the app's commands (a tenth of
them dermatologists, the rest general practice), PATIENTS patients, and about PER_MONTH
appointments a month on every weekday from 395 days ago to 30 days ahead, bulk-loaded by
SQL as the owner: past ones completed, cancelled (some late) or no-show, future ones
booked, each booked 1 to 30 days ahead. The day sheet and the daily provider figures are
rebuilt (timed), VACUUM ANALYZE, then the job for the tenant (reporting.metrics.
compute_tenant: every whole week and month of the 601-day window, per specialty and for
the clinic) runs RUNS times. Printed: the load and rebuild times, each run's seconds and
rows, and a check that the stored months count every appointment of their dates.

    .venv/bin/python -m bench.clinic_metrics [--providers 2000] [--per-month 100000]
"""

from __future__ import annotations

import argparse
import statistics
from datetime import date, datetime, timedelta
from time import perf_counter
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, text

from bench.clinic import owner_database
from bench.read_model_queries import load_patients
from bench.utilization_report import ZONE, Clinic
from vitalbridge.messaging.rebuild import exclusive, rebuild_tenant
from vitalbridge.reporting.metrics import compute_tenant

WEEKDAYS_A_MONTH = 21.7
PAST_DAYS, FUTURE_DAYS = 395, 30

# Provider p on weekday w (counted from the first date) sees 2 or 3 patients, on the
# hour from 09:00 local; patient (7p + 13w + j) mod patients: at any hour every busy
# provider sees a different patient. Status and history follow from p, w and j.
_LOAD = text("""
WITH p AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM unnest(:providers) AS id),
     q AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM unnest(:patients) AS id),
     d AS (SELECT day, row_number() OVER (ORDER BY day) - 1 AS w
             FROM generate_series(CAST(:first AS date), CAST(:last AS date), interval '1 day')
                  AS day WHERE extract(isodow FROM day) < 6),
     s AS (SELECT p.id AS provider_id, p.n AS pn, d.w, j,
                  (CAST(d.day AS date) + time '09:00' + j * interval '1 hour')
                    AT TIME ZONE :zone AS starts_at
             FROM p CROSS JOIN d CROSS JOIN generate_series(0, 2) AS j
            WHERE j < :base OR (p.n + d.w) % 10 < :extra_tenths)
INSERT INTO appointments (tenant_id, id, provider_id, patient_id, starts_at, ends_at, status,
                          cancel_reason, created_at, updated_at)
SELECT :tenant, gen_random_uuid(), s.provider_id, q.id, s.starts_at,
       s.starts_at + interval '30 minutes', x.status,
       CASE WHEN x.status = 'cancelled' THEN 'patient' END,
       s.starts_at - ((s.pn + s.w) % 30 + 1) * interval '1 day',
       CASE WHEN x.status = 'cancelled' THEN s.starts_at - ((s.pn * 3 + s.w) % 72 + 1)
                 * interval '1 hour'
            ELSE s.starts_at - ((s.pn + s.w) % 30 + 1) * interval '1 day' END
  FROM s JOIN q ON q.n = (7 * s.pn + 13 * s.w + s.j) % :patient_count
 CROSS JOIN LATERAL (SELECT CASE
       WHEN s.starts_at >= now() THEN 'booked'
       WHEN (s.pn + s.w + s.j) % 10 = 0 THEN 'cancelled'
       WHEN (s.pn + s.w + s.j) % 20 = 1 THEN 'no_show'
       ELSE 'completed' END AS status) x
""")
_DERMATOLOGY = text("UPDATE providers SET specialty = 'Dermatology' "
                    "WHERE tenant_id = :tenant AND family_name LIKE '%0'")
_MONTHS = text("""
SELECT (SELECT sum(appointments) FROM clinic_metrics
         WHERE tenant_id = :tenant AND granularity = 'month' AND specialty = '') AS stored,
       (SELECT count(*) FROM day_sheet d
         WHERE d.tenant_id = :tenant AND d.local_date BETWEEN
               (SELECT min(period_start) FROM clinic_metrics WHERE granularity = 'month')
           AND (SELECT max(period_end) FROM clinic_metrics WHERE granularity = 'month'))
         AS counted
""")


def load(clinic: Clinic, providers: list, patients: list, per_month: int,
         today: date) -> None:
    """The appointments, bulk-loaded as the owner; the dermatologists; ANALYZE."""
    per_day = per_month / WEEKDAYS_A_MONTH / len(providers)
    base = min(int(per_day), 3)
    engine = create_engine(clinic.owner_url)
    with engine.begin() as conn:
        conn.execute(_LOAD, {
            "providers": providers, "patients": patients, "zone": ZONE,
            "tenant": clinic.tenant_id, "patient_count": len(patients),
            "first": today - timedelta(days=PAST_DAYS), "last": today + timedelta(days=FUTURE_DAYS),
            "base": base, "extra_tenths": round((per_day - base) * 10)})
        conn.execute(_DERMATOLOGY, {"tenant": clinic.tenant_id})
        count = conn.scalar(text("SELECT count(*) FROM appointments"))
    with engine.execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text("ANALYZE"))
    engine.dispose()
    print(f"appointments: {count:,} ({per_day:.2f} a provider and weekday)", flush=True)


def rebuild_daily_models(clinic: Clinic) -> None:
    """The read models the metrics read, rebuilt (timed), then VACUUM ANALYZE."""
    svc = clinic.app.extensions["vitalbridge"]
    for name in ("day_sheet", "provider_days"):
        model = svc.read_model(name)
        with clinic.app.app_context(), exclusive(svc.db, model):
            done = rebuild_tenant(svc.db, svc.queries, model, clinic.tenant_id)
        print(f"rebuilt {name}: {done.rows:,} rows in {done.seconds:.1f} s", flush=True)
    engine = create_engine(clinic.owner_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()


def time_job(clinic: Clinic, runs: int) -> None:
    """Run the job for the tenant ``runs`` times; print each and the check."""
    svc = clinic.app.extensions["vitalbridge"]
    seconds = []
    for run in range(runs):
        began = perf_counter()
        with clinic.app.app_context():
            rows = compute_tenant(svc.db, svc.queries, clinic.tenant_id)
        seconds.append(perf_counter() - began)
        print(f"run {run + 1}: {seconds[-1]:.2f} s, {rows:,} rows stored", flush=True)
    engine = create_engine(clinic.owner_url)
    with engine.connect() as conn:
        check = conn.execute(_MONTHS, {"tenant": clinic.tenant_id}).one()
    engine.dispose()
    print(f"median {statistics.median(seconds):.2f} s, max {max(seconds):.2f} s; "
          f"months count {check.stored:,} appointments, the day sheet holds "
          f"{check.counted:,} on their dates")


def main() -> None:
    """Build, load, rebuild, time the job."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--providers", type=int, default=2000)
    parser.add_argument("--per-month", type=int, default=100_000)
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--owner-url", help="owner URL of an empty database to use")
    args = parser.parse_args()
    today = datetime.now(ZoneInfo(ZONE)).date()
    with owner_database(args.owner_url) as owner_url:
        started = perf_counter()
        clinic = Clinic(owner_url)
        try:
            providers = clinic.add_providers(args.providers, today)
            patients = load_patients(clinic, args.patients)
            load(clinic, providers, patients, args.per_month, today)
            print(f"loaded in {perf_counter() - started:.0f} s", flush=True)
            rebuild_daily_models(clinic)
            time_job(clinic, args.runs)
        finally:
            clinic.app.extensions["vitalbridge"].db.dispose()


if __name__ == "__main__":
    main()

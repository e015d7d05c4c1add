"""Get Available Slots at scale: latency of GET /api/v1/availability over 1M appointments.

Builds one clinic in a throwaway database (embedded PostgreSQL, TEST_DATABASE_URL's
server, or the empty database whose owner URL is given): PROVIDERS providers with
weekday working hours (through the app's commands), PATIENTS patients, and APPOINTMENTS
appointments bulk-loaded by SQL (every provider booked every other half hour of
08:00-18:00 for 200 days around today, a tenth cancelled, past ones completed; no two
overlap, so the exclusion constraints accept them). Then it times the real endpoint
through the Flask test client (authentication, the query bus, JSON) for one provider
over 7 days and for 50 providers over 7 days, each window starting tomorrow, and prints
p50/p95.

    .venv/bin/python -m bench.availability_latency [--appointments 1000000] [--requests 200]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import uuid
from datetime import UTC, datetime, time, timedelta
from time import perf_counter
from typing import Any

from flask import Flask
from sqlalchemy import create_engine, text

from bench.clinic import BenchClinic, owner_database
from vitalbridge.provider.messages import AddProvider
from vitalbridge.schedule.calendar import WeeklyRule
from vitalbridge.schedule.messages import SetWorkingHours

ZONE = "America/New_York"
WORKDAY = tuple(WeeklyRule(day, time(8), time(18)) for day in range(5))

# Appointment k of provider p starts on local day k / 10 (counted from 100 days ago) at
# 08:00 + k % 10 hours and lasts half an hour: every provider is half booked, every
# day, for 200 days. Patient (p + k) % patients: at any instant the busy providers all
# see different patients, so no patient is ever double-booked.
LOAD = text("""
WITH p AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM unnest(:providers) AS id),
     q AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM unnest(:patients) AS id),
     slots AS (
       SELECT p.id AS provider_id, p.n AS pn, k,
              ((current_date - 100 + (k / 10))::timestamp + time '08:00'
               + (k % 10) * interval '1 hour') AT TIME ZONE :zone AS starts_at
         FROM p CROSS JOIN generate_series(0, :per_provider - 1) AS k)
INSERT INTO appointments (tenant_id, id, provider_id, patient_id, starts_at, ends_at, status)
SELECT :tenant, gen_random_uuid(), s.provider_id, q.id, s.starts_at,
       s.starts_at + interval '30 minutes',
       CASE WHEN (s.k * 7 + s.pn) % 10 = 0 THEN 'cancelled'
            WHEN s.starts_at < now() THEN 'completed' ELSE 'booked' END
  FROM slots s JOIN q ON q.n = (s.pn + s.k) % :patient_count
""")


class Clinic(BenchClinic):
    """The app, and the clinic the benchmark asks about."""

    def __init__(self, owner_url: str) -> None:
        super().__init__(owner_url, ZONE)

    def add_providers(self, count: int) -> list[uuid.UUID]:
        """Providers with weekday 08:00-18:00 hours, through the app's commands."""
        ids = []
        for n in range(count):
            ack = self.send(AddProvider(given_name="Bench", family_name=f"Provider {n:04}",
                                         specialty="Cardiology" if n < 50 else "General",
                                         timezone=ZONE), self.tenant_id)
            self.send(SetWorkingHours(provider_id=ack.id, timezone=ZONE, rules=WORKDAY),
                       self.tenant_id)
            ids.append(ack.id)
        return ids

    def load_appointments(self, providers: list[uuid.UUID], patients: list[uuid.UUID],
                          per_provider: int) -> None:
        """Bulk-insert the appointments as the owner, then ANALYZE."""
        engine = create_engine(self.owner_url)
        with engine.begin() as conn:
            conn.execute(LOAD, {"providers": providers, "patients": patients, "zone": ZONE,
                                "per_provider": per_provider, "tenant": self.tenant_id,
                                "patient_count": len(patients)})
            conn.execute(text("ANALYZE"))
            total = conn.execute(text("SELECT count(*) FROM appointments")).scalar_one()
        engine.dispose()
        print(f"appointments in the database: {total:,}")


def time_requests(app: Flask, key: str, params: dict[str, Any],
                  requests: int) -> tuple[list[float], int]:
    """Durations (ms) of ``requests`` GET /availability calls, and the slots of the last."""
    client = app.test_client()
    headers = {"Authorization": f"Bearer {key}"}
    durations, slots = [], 0
    for _ in range(requests + 10):  # the first ten warm caches and the pool
        started = perf_counter()
        response = client.get("/api/v1/availability", query_string=params, headers=headers)
        durations.append((perf_counter() - started) * 1000)
        assert response.status_code == 200, response.json
        slots = sum(len(p["slots"]) for p in response.json["providers"])
    return durations[10:], slots


def report(label: str, durations: list[float], slots: int) -> None:
    """One line: p50, p95, max and how many slots the answer held."""
    p95 = statistics.quantiles(durations, n=20)[-1]
    print(f"{label:28} p50 {statistics.median(durations):6.1f} ms   p95 {p95:6.1f} ms   "
          f"max {max(durations):6.1f} ms   ({slots} slots, {len(durations)} requests)")


def main() -> None:
    """Build the clinic, load the appointments, time both cases."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--appointments", type=int, default=1_000_000)
    parser.add_argument("--providers", type=int, default=500)
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--owner-url", help="owner URL of an empty database to use")
    args = parser.parse_args()
    with owner_database(args.owner_url) as owner_url:
        started = perf_counter()
        clinic = Clinic(owner_url)
        providers = clinic.add_providers(args.providers)
        patients = clinic.add_patients(args.patients)
        clinic.load_appointments(providers, patients, args.appointments // args.providers)
        print(f"loaded in {perf_counter() - started:.0f} s")
        gc.freeze()  # as wsgi.py does once the app is built
        start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        start += timedelta(days=1)
        window = {"from": start.isoformat(), "to": (start + timedelta(days=7)).isoformat()}
        try:
            report("1 provider, 7 days", *time_requests(
                clinic.app, clinic.key, {**window, "provider_id": str(providers[0])},
                args.requests))
            report("50 providers, 7 days", *time_requests(
                clinic.app, clinic.key, {**window, "provider_id": [str(p) for p in
                                                                   providers[:50]]},
                args.requests))
            report("specialty (50), 7 days", *time_requests(
                clinic.app, clinic.key, {**window, "specialty": "Cardiology"},
                args.requests))
        finally:
            clinic.app.extensions["vitalbridge"].db.dispose()


if __name__ == "__main__":
    main()

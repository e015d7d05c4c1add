"""Utilization report at scale: latency of GET /api/v1/reports/utilization over 1M appointments.

Builds one clinic in a throwaway database (embedded PostgreSQL, TEST_DATABASE_URL's
server, or the empty database whose owner URL is given): PROVIDERS providers with
weekday working hours 08:00-18:00 America/New_York, every tenth with a date override
(a morning-only day) and every twentieth with approved leave (both through the app's
commands), PATIENTS patients, and APPOINTMENTS appointments bulk-loaded by SQL as the
owner: every provider booked 35 of the 40 quarter hours of each weekday on 200 days
around today (past ones completed, a tenth cancelled, a twentieth of past ones no-show;
the ones inside approved leave cancelled, as the leave's reaction would have done). Then
ANALYZE and ``gc.freeze()``, and it times the real endpoint through the Flask test client
(authentication, the query bus, row-level security, JSON) for 1 provider x 7 days,
50 providers (one page) x 31 days and 200 providers (one page) x 92 days, each window
centred on today. It prints p50/p95/max and the body size, the SELECTs of one request
of the smallest and the largest case (the same four), and the peak memory.

    .venv/bin/python -m bench.utilization_report [--appointments 1000000] [--requests 20]
"""

from __future__ import annotations

import argparse
import gc
import re
import resource
import statistics
import sys
import uuid
from datetime import date, datetime, time, timedelta
from time import perf_counter
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask
from sqlalchemy import create_engine, event, text

from bench.clinic import BenchClinic, owner_database
from vitalbridge.provider.messages import AddProvider
from vitalbridge.schedule.calendar import WeeklyRule
from vitalbridge.schedule.messages import (
    ApproveLeaveRequest,
    SetDateOverride,
    SetWorkingHours,
    SubmitLeaveRequest,
)

ZONE = "America/New_York"
WORKDAY = tuple(WeeklyRule(day, time(8), time(18)) for day in range(5))
SLOTS_PER_DAY = 35  # of the 40 quarter hours of 08:00-18:00

# Appointment k of provider p is on weekday number k / 35 counted from the Monday on or
# before 100 days ago (five per week: Monday..Friday), in quarter hour j + j / 7 of
# 08:00-18:00 where j = k % 35 (so quarter hours 7, 15, 23, 31 and 39 stay free), and
# lasts 15 minutes. Patient (p + k) % patients: at any instant the busy providers all see
# different patients, so no patient is ever double-booked.
LOAD = text("""
WITH p AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM unnest(:providers) AS id),
     q AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM unnest(:patients) AS id),
     slots AS (
       SELECT p.id AS provider_id, p.n AS pn, k,
              ((:first_monday + ((k / :per_day) / 5) * 7 + (k / :per_day) % 5)::timestamp
               + time '08:00'
               + ((k % :per_day) + (k % :per_day) / 7) * interval '15 minutes')
                 AT TIME ZONE :zone AS starts_at
         FROM p CROSS JOIN generate_series(0, :per_provider - 1) AS k)
INSERT INTO appointments (tenant_id, id, provider_id, patient_id, starts_at, ends_at, status)
SELECT :tenant, gen_random_uuid(), s.provider_id, q.id, s.starts_at,
       s.starts_at + interval '15 minutes',
       CASE WHEN (s.k * 7 + s.pn) % 10 = 0 THEN 'cancelled'
            WHEN EXISTS (SELECT 1 FROM leave_requests l
                          WHERE l.provider_id = s.provider_id AND l.status = 'approved'
                            AND l.starts_at < s.starts_at + interval '15 minutes'
                            AND l.ends_at > s.starts_at) THEN 'cancelled'
            WHEN s.starts_at >= now() THEN 'booked'
            WHEN (s.k * 7 + s.pn) % 20 = 1 THEN 'no_show'
            ELSE 'completed' END
  FROM slots s JOIN q ON q.n = (s.pn + s.k) % :patient_count
""")

EXPANDED_IN = re.compile(r"\(%\((\w+?)_\d+\)s((?:::[A-Z]+)?)(?:, %\(\1_\d+\)s\2)*\)")

CASES = (  # label, providers on the page, days
    ("1 provider x 7 days", 1, 7),  # the first in name order: override and leave
    ("50 providers x 31 days", 50, 31),
    ("200 providers x 92 days", 200, 92),
)


class Clinic(BenchClinic):
    """The app, and the clinic the benchmark asks about."""

    def __init__(self, owner_url: str) -> None:
        super().__init__(owner_url, ZONE)

    def add_providers(self, count: int, today: date) -> list[uuid.UUID]:
        """Providers with weekday 08:00-18:00 hours, some with an override or leave."""
        zone = ZoneInfo(ZONE)
        ids = []
        for n in range(count):
            ack = self.send(AddProvider(given_name="Bench", family_name=f"Provider {n:04}",
                                         specialty="General", timezone=ZONE), self.tenant_id)
            self.send(SetWorkingHours(provider_id=ack.id, timezone=ZONE, rules=WORKDAY),
                       self.tenant_id)
            if n % 10 == 0:  # a morning-only day, two days from now
                self.send(SetDateOverride(provider_id=ack.id, day=today + timedelta(days=2),
                                           intervals=((time(8), time(12)),)), self.tenant_id)
            if n % 20 == 0:  # tomorrow 13:00 local to the next day 13:00
                start = datetime.combine(today + timedelta(days=1), time(13), tzinfo=zone)
                leave = self.send(SubmitLeaveRequest(provider_id=ack.id, start=start,
                                                      end=start + timedelta(days=1),
                                                      reason="bench"), self.tenant_id)
                self.send(ApproveLeaveRequest(leave_id=leave.id), self.tenant_id)
            ids.append(ack.id)
        return ids

    def load_appointments(self, providers: list[uuid.UUID], patients: list[uuid.UUID],
                          per_provider: int, today: date) -> None:
        """Bulk-insert the appointments as the owner, then ANALYZE."""
        first = today - timedelta(days=100)
        first_monday = first - timedelta(days=first.weekday())
        engine = create_engine(self.owner_url)
        with engine.begin() as conn:
            conn.execute(LOAD, {"providers": providers, "patients": patients, "zone": ZONE,
                                "per_provider": per_provider, "per_day": SLOTS_PER_DAY,
                                "first_monday": first_monday, "tenant": self.tenant_id,
                                "patient_count": len(patients)})
            conn.execute(text("ANALYZE"))
            rows = conn.execute(text("SELECT status, count(*) FROM appointments "
                                     "GROUP BY status ORDER BY status")).all()
            span = conn.execute(text("SELECT min(starts_at), max(starts_at) "
                                     "FROM appointments")).one()
        engine.dispose()
        print(f"appointments in the database: {sum(r[1] for r in rows):,} "
              f"({', '.join(f'{s} {c:,}' for s, c in rows)}), "
              f"{span[0]:%Y-%m-%d} to {span[1]:%Y-%m-%d}")


def window(today: date, days: int) -> dict[str, str]:
    """``days`` local dates with today in the middle."""
    first = today - timedelta(days=days // 2)
    return {"from": first.isoformat(), "to": (first + timedelta(days=days - 1)).isoformat()}


def time_requests(app: Flask, key: str, params: dict[str, Any],
                  requests: int, warmup: int) -> tuple[list[float], int, dict[str, Any]]:
    """Durations (ms) of ``requests`` GET /reports/utilization calls; size and body of the last."""
    client = app.test_client()
    headers = {"Authorization": f"Bearer {key}"}
    durations, size, body = [], 0, {}
    for _ in range(warmup + requests):
        started = perf_counter()
        response = client.get("/api/v1/reports/utilization", query_string=params,
                              headers=headers)
        durations.append((perf_counter() - started) * 1000)
        assert response.status_code == 200, response.json
        size, body = len(response.data), response.json
    return durations[warmup:], size, body


def selects_of(app: Flask, key: str, params: dict[str, Any]) -> list[str]:
    """The SELECTs (the tenant-scope set_config left out) that one request runs."""
    engine = app.extensions["vitalbridge"].db.engine
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        time_requests(app, key, params, requests=1, warmup=0)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return [s for s in statements if s.lstrip().upper().startswith(("SELECT", "WITH"))
            and "set_config" not in s]


def report(label: str, durations: list[float], size: int, body: dict[str, Any]) -> None:
    """One Markdown row: p50, p95, max, body size, providers and days answered."""
    p95 = (statistics.quantiles(durations, n=20, method="inclusive")[-1]
           if len(durations) > 1 else durations[0])
    days = sum(len(item["days"]) for item in body["items"])
    print(f"| {label} | {statistics.median(durations):.1f} ms | {p95:.1f} ms | "
          f"{max(durations):.1f} ms | {size / 1024:,.0f} KiB | {len(body['items'])} "
          f"providers, {days:,} provider-days | {len(durations)} |", flush=True)


def shape(statement: str) -> str:
    """The statement with each expanded IN list (``IN (%(x_1)s::UUID, %(x_2)s::UUID)``, one
    placeholder per provider) written as one item."""
    return EXPANDED_IN.sub(r"(%(\1_n)s\2)", " ".join(statement.split()))


def first_words(statement: str) -> str:
    return " ".join(statement.split())[:110]


def main() -> None:
    """Build the clinic, load the appointments, time the three cases."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--appointments", type=int, default=1_000_000)
    parser.add_argument("--providers", type=int, default=200)
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=20,
                        help="timed requests per case (after --warmup more)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--owner-url", help="owner URL of an empty database to use")
    args = parser.parse_args()
    today = datetime.now(ZoneInfo(ZONE)).date()
    with owner_database(args.owner_url) as owner_url:
        started = perf_counter()
        clinic = Clinic(owner_url)
        providers = clinic.add_providers(args.providers, today)
        patients = clinic.add_patients(args.patients)
        clinic.load_appointments(providers, patients, args.appointments // args.providers,
                                 today)
        print(f"loaded in {perf_counter() - started:.0f} s", flush=True)
        gc.freeze()  # as wsgi.py does once the app is built
        cases = [(label, {**window(today, days), "limit": count}, days)
                 for label, count, days in CASES]
        try:
            print("| case | p50 | p95 | max | body | answered | requests |")
            print("|---|---|---|---|---|---|---|")
            for label, params, _ in cases:
                report(label, *time_requests(clinic.app, clinic.key, params,
                                             args.requests, args.warmup))
            smallest = selects_of(clinic.app, clinic.key, cases[0][1])
            largest = selects_of(clinic.app, clinic.key, cases[-1][1])
            for label, reads in ((cases[0][0], smallest), (cases[-1][0], largest)):
                print(f"\nSELECTs of one request, {label}: {len(reads)}")
                for statement in reads:
                    print(f"  {first_words(statement)}")
            verbatim = [n + 1 for n, (a, b) in enumerate(zip(smallest, largest, strict=False))
                        if a != b]
            shapes = [shape(s) for s in smallest] == [shape(s) for s in largest]
            print(f"\nsame number: {len(smallest) == len(largest)}; same text once each "
                  f"expanded IN list counts as one item: {shapes}; statements whose text "
                  f"differs as sent: {verbatim or 'none'}")
        finally:
            clinic.app.extensions["vitalbridge"].db.dispose()
    # ru_maxrss is KiB on Linux, bytes on macOS.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak_mib = peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
    print(f"peak memory (ru_maxrss) of this process: {peak_mib:,.0f} MiB")


if __name__ == "__main__":
    main()

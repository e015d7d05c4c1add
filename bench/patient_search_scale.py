"""Patient search at scale: names ranked first against every patient scored, same queries.

Loads N patients of the harness's generator (bench/datagen.py: accented, double-barrelled
names with many namesakes) into one tenant, then types M of their names as the load
runner does (one slip, often no accents) and runs each query's first two pages through
both statements of vitalbridge/patient/search.py, as the app role under row-level
security. Prints p50/p95/max per statement and how many queries' pages differ (0: the
two answer the same patients in the same order).

    .venv/bin/python -m bench.patient_search_scale [--patients 1000000] [--queries 150]
Uses TEST_DATABASE_URL's server if set, else a throwaway embedded PostgreSQL.
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Any

from sqlalchemy import Connection, create_engine, text

from bench import datagen
from bench.clinic import BenchClinic, owner_database
from bench.workload import _typed
from vitalbridge.patient import search
from vitalbridge.patient.messages import SearchPatients

STATEMENTS = {"names first": search._ranked_names, "every patient": search._ranked_patients}


def load(clinic: BenchClinic, patients: int) -> None:
    """The generator's patients, then VACUUM ANALYZE as autovacuum would have."""
    params = {"tenant": clinic.tenant_id, "providers": 1, "patients": patients,
              "given": datagen.GIVEN, "family": datagen.FAMILY}
    engine = create_engine(clinic.owner_url)
    with engine.begin() as conn:
        for script in (datagen._DROP_IDS, datagen._IDS, datagen._PATIENTS):
            for statement in script.split(";\n"):
                conn.execute(text(statement), params)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE patients, patient_names"))
    engine.dispose()


def pages(conn: Connection, tenant: Any, typed: str, name: str,
          timings: list[float]) -> list[list[Any]]:
    """The first two pages of 50 of one statement (ids), each timed."""
    found, after = [], None
    for _ in range(2):
        with conn.begin():
            conn.execute(text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(tenant)})
            search.use_search_settings(conn)
            query = SearchPatients(q=typed, after=after)
            stmt, parameters = STATEMENTS[name](query, search.search_words(typed))
            started = time.perf_counter()
            rows = conn.execute(stmt, parameters).all()
            timings.append((time.perf_counter() - started) * 1000)
        found.append([row.id for row in rows[:50]])
        if len(rows) <= 50:
            break
        after = (rows[49].score, rows[49].id)
    return found


def main() -> None:
    """Load, run every query through both statements, print the Markdown rows."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=150)
    args = parser.parse_args()
    with owner_database(None) as url:
        clinic = BenchClinic(url, datagen.ZONE)
        started = time.perf_counter()
        load(clinic, args.patients)
        print(f"loaded {args.patients:,} patients in {time.perf_counter() - started:.0f} s")
        owner = create_engine(url)
        with owner.connect() as conn:
            names = conn.execute(text(
                "SELECT given_name || ' ' || family_name FROM patients WHERE tenant_id = :t "
                "ORDER BY md5(id::text) LIMIT :n"), {"t": clinic.tenant_id, "n": args.queries}
            ).scalars().all()
        owner.dispose()
        rng = random.Random(11)
        typed = [_typed(name, rng) for name in names]
        timings: dict[str, list[float]] = {name: [] for name in STATEMENTS}
        engine = create_engine(clinic.app.config["SETTINGS"].app_url)
        with engine.connect() as conn:
            differ = sum(pages(conn, clinic.tenant_id, q, "names first", timings["names first"])
                         != pages(conn, clinic.tenant_id, q, "every patient",
                                  timings["every patient"]) for q in typed)
        engine.dispose()
    print(f"| statement | pages | p50 ms | p95 ms | max ms | ({len(typed)} queries, "
          f"{differ} with different pages) |")
    for name, values in timings.items():
        values.sort()
        print(f"| {name} | {len(values)} | {values[len(values) // 2]:.1f} | "
              f"{values[int(len(values) * 0.95)]:.1f} | {values[-1]:.1f} |")


if __name__ == "__main__":
    main()

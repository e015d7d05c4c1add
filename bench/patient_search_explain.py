"""Patient name search at scale: plan and timing of the real query, as the app role.

Loads N patients (default 100 000) into one tenant of a throwaway embedded PostgreSQL
(or of the empty database whose owner URL is given), migrates it, ANALYZEs, then runs
the app's own search statement under row-level security and prints EXPLAIN ANALYZE of
the first query and the median time of each. The statement runs unprepared, on a custom
plan, where the app runs it prepared on the generic plan (vitalbridge/patient/search.py,
use_search_settings); tests/api/test_patient_search.py explains the generic one.

    .venv/bin/python bench/patient_search_explain.py [--rows 100000] [--owner-url URL]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

from sqlalchemy import Connection, create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.clinic import owner_database
from vitalbridge import create_app
from vitalbridge.patient.messages import SearchPatients
from vitalbridge.patient.search import search_statement, use_search_settings

QUERIES = ["jose garcia", "Jonh Smiht", "maria garcia-lopez", "van der berg", "ana", "zzyzx"]

# A third of the names are common real ones (many namesakes, as in a real clinic);
# the rest are random letter strings, so the trigram index sees a wide vocabulary.
LOAD = text("""
INSERT INTO patients (tenant_id, id, mrn, given_name, family_name, birth_date)
SELECT :tenant, gen_random_uuid(), 'BENCH-' || g,
       CASE WHEN g % 3 = 0
            THEN (ARRAY['José','María','John','Jane','Anna','Ana','Li','Mohammed','Olga',
                        'Pieter','Zoë','François','Siobhán','Michael','Nguyễn'])[1 + (g / 3) % 15]
            ELSE initcap(translate(substr(md5(g::text), 1, 6), '0123456789', 'aeiourstln'))
       END,
       CASE WHEN g % 3 = 0
            THEN (ARRAY['García','García-López','Smith','van der Berg','Müller','Rossi',
                        'Kowalski','Dubois','Johnson','Wei','O''Connor','Lefèvre','Souza',
                        'Nowak','Al-Hassan','Schmidt','Martin'])[1 + (g / 45) % 17]
            ELSE initcap(translate(substr(md5(g::text), 7, 9), '0123456789', 'aeiourstln'))
       END,
       date '1930-01-01' + (g % 30000)
  FROM generate_series(1, :rows) AS g
""")


def load(owner_url: str, tenant: uuid.UUID, rows: int) -> str:
    """Migrate, bulk-load and analyze; answer the app role's URL."""
    app = create_app(database_url=owner_url, env="testing")
    with app.app_context():
        app.extensions["alembic"].upgrade()
    app.extensions["vitalbridge"].db.dispose()
    engine = create_engine(owner_url)
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(LOAD, {"tenant": tenant, "rows": rows})
        conn.execute(text("ANALYZE patients"))
    engine.dispose()
    print(f"loaded {rows} patients in {time.perf_counter() - started:.1f}s")
    return app.config["SETTINGS"].app_url


def run(conn: Connection, tenant: uuid.UUID, q: str, explain: bool) -> tuple[float, str]:
    """One search with the app's statement and settings; its duration (and plan when asked)."""
    conn.execute(text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(tenant)})
    use_search_settings(conn)
    statement, parameters = search_statement(SearchPatients(q=q, limit=50))
    compiled = statement.compile(dialect=conn.dialect)
    prefix = "EXPLAIN (ANALYZE, BUFFERS) " if explain else ""
    started = time.perf_counter()
    rows = conn.exec_driver_sql(prefix + str(compiled),
                                compiled.construct_params(parameters)).all()
    elapsed = time.perf_counter() - started
    return elapsed, "\n".join(str(r[0]) for r in rows) if explain else f"{len(rows)} hits"


def main() -> None:
    """Load, then print the plan of the first query and every query's timing."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--owner-url", help="owner URL of an empty database to use")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    tenant = uuid.uuid4()
    with owner_database(args.owner_url) as owner_url:
        engine = create_engine(load(owner_url, tenant, args.rows))
        try:
            with engine.begin() as conn:
                conn.execute(text("SET TRANSACTION READ ONLY"))
                print(run(conn, tenant, QUERIES[0], explain=True)[1])
                for q in QUERIES:
                    timings = [run(conn, tenant, q, explain=False) for _ in range(args.repeat)]
                    median = statistics.median(t for t, _ in timings)
                    print(f"{q!r:24} {median * 1000:7.2f} ms median  ({timings[0][1]})")
        finally:
            engine.dispose()


if __name__ == "__main__":
    main()

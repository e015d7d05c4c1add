"""The acceptance drills of issue 17, run against a topology that is up.

Each drill prints one line: PASS or FAIL, its name, and what it measured. Outcomes are
read from the servers (the database, the app's logs), never assumed from the drill's
own actions. The failover drills run under a steady stream of bookings from 8 clients
(deploy/topology/load.py).
"""

from __future__ import annotations

import functools
import json
import re
import signal
import subprocess
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from deploy.topology import load, postgres, processes, topology
from deploy.topology.client import Answer, Client
from deploy.topology.layout import (
    DATABASE,
    RELAY_INSTANCES,
    SCHEDULER_INSTANCES,
    WEB_INSTANCES,
    Layout,
)
from deploy.topology.load import FrontDesk, booking_stream

CONSISTENCY_HEADER = "Consistency-Token"
PROBLEM_FIELDS = ("type", "title", "status", "detail")
RELAY_TAKEOVER_LIMIT = 10.0  # seconds: the bound for the standby relay
STEADY_SECONDS, AFTER_FAILURE_SECONDS = 2.0, 4.0


@dataclass(frozen=True)
class Result:
    passed: bool
    detail: str


@dataclass
class Drills:
    """What every drill needs: the topology, its database and the booking clients."""

    layout: Layout
    cluster: postgres.Cluster
    desks: list[FrontDesk]
    admin: Client  # the demo clinic's admin key (sync-status is for admins)

    def primary(self) -> psycopg.Connection:
        return self.cluster.superuser(self.layout.ports.primary, DATABASE)

    def replica(self) -> psycopg.Connection:
        return self.cluster.superuser(self.layout.ports.replica, DATABASE)

    @property
    def desk(self) -> FrontDesk:
        return self.desks[0]

    # a. X-Request-ID and the rate limit ------------------------------------------------

    def request_id_and_rate_limit(self) -> Result:
        mine = f"drill-{int(time.time() * 1000)}"
        given = _booked(self.desk, {"X-Request-ID": mine})
        made = self.desk.client.get("/api/v1/providers")
        made_id = made.headers.get("x-request-id", "")
        logged = [_logged(self.layout, rid, path) for rid, path in (
            (mine, "/api/v1/appointments"), (made_id, "/api/v1/providers"))]
        burst = _burst(self.layout, self.desk.client.key or "")
        limited = [a for a in burst if a.status == 429]
        problem_ok = bool(limited) and all(_is_problem(a, 429) for a in limited)
        metrics_outside = Client(self.layout, source="127.0.0.201").get("/metrics").status
        metrics_inside = Client(self.layout).get("/metrics").status
        passed = (given.headers.get("x-request-id") == mine and all(logged)
                  and re.fullmatch(r"[0-9a-f]{32}", made_id) is not None and problem_ok
                  and {a.status for a in burst} <= {200, 429}
                  and metrics_outside == 403 and metrics_inside == 200)
        return Result(passed, (
            f"client id {mine} in app log: {logged[0]}; nginx-made id {made_id or '-'} in "
            f"app log: {logged[1]}; burst of {len(burst)}: {len(limited)} x 429 problem+json "
            f"({problem_ok}), {sum(a.status == 200 for a in burst)} x 200; /metrics from "
            f"127.0.0.201: {metrics_outside}, from 127.0.0.1: {metrics_inside}"))

    # b. an app server killed ---------------------------------------------------------

    def kill_app_server(self) -> Result:
        victim = WEB_INSTANCES[0]
        pid, port = _pid(self.layout, victim), self.layout.ports.web[0]
        with booking_stream(self.desks) as outcome:
            time.sleep(STEADY_SECONDS)
            killed_at = time.monotonic()
            processes.kill_group(pid, signal.SIGKILL)
            # A request sent before every process of the server is gone and every socket
            # of it closed may still have reached it: the server is dead from this
            # moment, not from the signal's.
            died = _wait_for(lambda: not processes.group_alive(pid)
                             and not processes.port_held(port), timeout=10, pause=0.001)
            dead_at = time.monotonic()
            time.sleep(AFTER_FAILURE_SECONDS)
        in_flight = [a for a in outcome.answers
                     if a.sent_at <= dead_at and a.sent_at + a.took > killed_at]
        failures = outcome.failures()
        late = [a for a in failures if a.sent_at > dead_at]
        after = [a for a in outcome.answers if a.sent_at > killed_at and a.status == 201]
        lost = _missing_appointments(self, outcome.booked_ids())
        _restart(self.layout, victim)
        passed = (died and not lost and not late and len(failures) <= len(in_flight)
                  and bool(after) and not outcome.other())
        return Result(passed, (
            f"{len(outcome.answers)} bookings sent, {len(outcome.booked_ids())} x 201 "
            f"({len(after)} after the kill), 201s missing from the database: {len(lost)}; "
            f"5xx/no answer: {_statuses(failures)} (sent once it was dead: {len(late)}), "
            f"in flight at the kill: {len(in_flight)} ("
            f"{'dead, its port closed,' if died else 'NOT dead or its port still open'} "
            f"{1000 * (dead_at - killed_at):.0f} ms after the signal); other answers: "
            f"{_statuses(outcome.other())}"
            + "".join(f"; late {a.status} sent {1000 * (a.sent_at - dead_at):.0f} ms after"
                      for a in late)))

    # c. the active relay killed ------------------------------------------------------

    def kill_active_relay(self) -> Result:
        active = _active_relay(self.layout)
        with booking_stream(self.desks) as outcome:
            time.sleep(STEADY_SECONDS)
            killed_at = self._database_now()
            processes.kill_group(_pid(self.layout, active), signal.SIGKILL)
            took = self._first_delivery_after(killed_at, timeout=30)
            time.sleep(AFTER_FAILURE_SECONDS)
        standby = _active_relay(self.layout)
        elected = _said_active_after(self.layout, standby, killed_at)
        drained = self._wait_drained(timeout=30)
        delivery = self._delivery_check()
        reconcile = _reconcile(self.layout)
        _restart(self.layout, active)
        passed = (took is not None and took <= RELAY_TAKEOVER_LIMIT and drained
                  and standby != active and elected is not None
                  and delivery["ok"] and reconcile[0] and not outcome.failures())
        return Result(passed, (
            f"killed {active}; {standby} active {_seconds(elected)} after the kill, first "
            f"delivery of an event committed after it {_seconds(took)} after the kill "
            f"(limit {RELAY_TAKEOVER_LIMIT:.0f} s); outbox drained: {drained}; "
            f"{delivery['detail']}; reconcile: {reconcile[1]}; bookings "
            f"{len(outcome.booked_ids())} x 201, failures {_statuses(outcome.failures())}"))

    def _database_now(self) -> datetime:
        with self.primary() as conn:
            return conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index]

    def _first_delivery_after(self, moment: datetime, timeout: float) -> float | None:
        """Seconds from ``moment`` to the first delivery of an event committed after it."""
        deadline = time.monotonic() + timeout
        with self.primary() as conn:
            while time.monotonic() < deadline:
                row = conn.execute(
                    "SELECT extract(epoch FROM min(delivered_at) - %s) FROM outbox "
                    "WHERE occurred_at > %s AND delivered_at IS NOT NULL",
                    (moment, moment)).fetchone()
                if row and row[0] is not None:
                    return float(row[0])
                time.sleep(0.1)
        return None

    def _wait_drained(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self.primary() as conn:
            while time.monotonic() < deadline:
                waiting = conn.execute("SELECT count(*) FROM outbox WHERE delivered_at IS NULL"
                                       ).fetchone()
                if waiting and waiting[0] == 0:
                    return True
                time.sleep(0.2)
        return False

    def _delivery_check(self) -> dict[str, Any]:
        """Every event delivered once: feed positions 1..n without gaps or repeats per
        tenant, no event parked, and every appointment's creation in the day sheet once."""
        with self.primary() as conn:
            gaps = conn.execute(
                "SELECT count(*) FROM (SELECT tenant_id FROM outbox GROUP BY tenant_id "
                "HAVING count(*) <> max(position) OR count(DISTINCT position) <> count(*)) t"
            ).fetchone()[0]  # type: ignore[index]
            parked = conn.execute("SELECT count(*) FROM parked_deliveries").fetchone()[0]  # type: ignore[index]
            events = conn.execute("SELECT count(*) FROM outbox").fetchone()[0]  # type: ignore[index]
            twice = conn.execute(
                "SELECT count(*) FROM (SELECT subscriber, event_id FROM inbox "
                "GROUP BY subscriber, event_id HAVING count(*) > 1) t").fetchone()[0]  # type: ignore[index]
        ok = gaps == 0 and parked == 0 and twice == 0
        return {"ok": ok, "detail": f"{events} events, tenants with position gaps or "
                f"repeats: {gaps}, parked: {parked}, inbox repeats: {twice}"}

    # d. the active scheduler killed --------------------------------------------------

    def kill_active_scheduler(self) -> Result:
        with self.primary() as conn:
            row = conn.execute("SELECT run_by FROM scheduled_job_runs "
                               "ORDER BY last_started_at DESC LIMIT 1").fetchone()
        if row is None:
            return Result(False, "no scheduled job has run yet")
        identity = row[0]
        pid = int(identity.rsplit(":", 1)[1])
        victim = next(name for name in SCHEDULER_INSTANCES
                      if processes.pid_of(self.layout, name) == pid)
        with booking_stream(self.desks) as outcome:
            time.sleep(STEADY_SECONDS)
            killed_at = self._database_now()
            processes.kill_group(pid, signal.SIGKILL)
            took, by = self._next_job_after(killed_at, identity, timeout=30)
        _restart(self.layout, victim)
        passed = took is not None and not outcome.failures()
        return Result(passed, (
            f"killed {victim} ({identity}); next job run by {by or '-'} "
            f"{_seconds(took)} after the kill; bookings {len(outcome.booked_ids())} x 201, "
            f"failures {_statuses(outcome.failures())}"))

    def _next_job_after(self, moment: datetime, killed: str,
                        timeout: float) -> tuple[float | None, str | None]:
        deadline = time.monotonic() + timeout
        with self.primary() as conn:
            while time.monotonic() < deadline:
                row = conn.execute(
                    "SELECT extract(epoch FROM last_started_at - %s), run_by "
                    "FROM scheduled_job_runs WHERE last_started_at > %s AND run_by <> %s "
                    "ORDER BY last_started_at LIMIT 1", (moment, moment, killed)).fetchone()
                if row:
                    return float(row[0]), str(row[1])
                time.sleep(0.2)
        return None, None

    # e. the replica stopped ----------------------------------------------------------

    def stop_replica(self) -> Result:
        booked = _booked(self.desk)
        path = f"/api/v1/appointments/{booked.body['id']}"
        with booking_stream(self.desks) as outcome:  # the admin asks meanwhile
            time.sleep(STEADY_SECONDS)
            self.cluster.stop(self.layout.replica_data)
            ready = self.admin.get("/health/ready")
            query = self.admin.get(path)
            status = self.admin.get("/api/v1/sync-status")
            time.sleep(STEADY_SECONDS)
        self.cluster.start(self.layout.replica_data, self.layout.ports.replica)
        restarted = time.monotonic()
        back = _wait_for(lambda: self.desk.client.get("/health/ready").body.get("status")
                         == "ok", timeout=30) and _wait_for(self._replica_serves, timeout=30)
        back_after = time.monotonic() - restarted
        reachable = (status.body or {}).get("replica", {}).get("reachable")
        passed = (ready.status == 200 and ready.body.get("status") == "degraded"
                  and query.status == 200 and reachable is False and back
                  and not outcome.failures())
        return Result(passed, (
            f"readiness {ready.status} {ready.body.get('status')}; a query {query.status}; "
            f"sync-status replica reachable: {reachable}; bookings meanwhile "
            f"{len(outcome.booked_ids())} x 201, failures {_statuses(outcome.failures())}; "
            f"after the restart, readiness ok and queries on the replica again: {back} "
            f"({back_after:.1f} s)"))

    def _replica_serves(self, answers: int = 12) -> bool:
        """Whether ``answers`` queries in a row come from the replica (every worker of
        both servers has left the primary it fell back to: each retries the replica on
        its own, REPLICA_RETRY_SECONDS after it found it down)."""
        path = f"/api/v1/patients/{self.desk.patient_id}/summary"
        return all("replica_lag_seconds" in _meta(self.desk.client.get(path))
                   for _ in range(answers))

    # f. replay paused: read your writes ----------------------------------------------

    def _pause_replay(self) -> None:
        """``pg_wal_replay_pause()``, then wait until the replica says it has paused (it
        only asks for a pause: replay goes on until the startup process sees it)."""
        with self.replica() as conn:
            conn.execute("SELECT pg_wal_replay_pause()")
            _wait_for(lambda: conn.execute("SELECT pg_get_wal_replay_pause_state()"
                                           ).fetchone() == ("paused",), timeout=10)

    def paused_replay(self) -> Result:
        patient = f"/api/v1/patients/{self.desk.patient_id}/summary"
        if not _wait_for(self._replica_serves, timeout=30):
            return Result(False, "queries are not served by the replica to begin with")
        self._pause_replay()
        try:
            booked = _booked(self.desk)
            token = booked.headers["consistency-token"]
            path = f"/api/v1/appointments/{booked.body['id']}"
            with_token = self.desk.client.get(path, **_token(token, wait=1))
            without = self.desk.client.get(path)
            time.sleep(0.5)
            lagging = self.desk.client.get(patient)
        finally:
            with self.replica() as conn:
                conn.execute("SELECT pg_wal_replay_resume()")
        resumed = self.desk.client.get(path, **_token(token, wait=5))
        summary = self.desk.client.get(patient, **_token(token, wait=5))
        lag = _meta(lagging).get("replica_lag_seconds")
        passed = (with_token.status == 200 and with_token.body["id"] == booked.body["id"]
                  and without.status == 404 and lag is not None and lag > 0
                  and resumed.status == 200 and summary.status == 200
                  and _meta(summary).get("replica_lag_seconds") == 0)
        return Result(passed, (
            f"paused: with the token {with_token.status} in {with_token.took:.2f} s, without "
            f"it {without.status} (the replica's answer), replica_lag_seconds {lag}; resumed: "
            f"with the token {resumed.status}, summary served by the replica "
            f"(replica_lag_seconds {_meta(summary).get('replica_lag_seconds')})"))


DRILLS: list[tuple[str, Callable[[Drills], Result]]] = [
    ("a. X-Request-ID, 429 problem+json, /metrics", Drills.request_id_and_rate_limit),
    ("b. SIGKILL an app server under 8 clients", Drills.kill_app_server),
    ("c. SIGKILL the active relay under 8 clients", Drills.kill_active_relay),
    ("d. SIGKILL the active scheduler under 8 clients", Drills.kill_active_scheduler),
    ("e. stop the replica under 8 clients", Drills.stop_replica),
    ("f. replay paused: read your writes", Drills.paused_replay),
]


def run_all(layout: Layout, only: str = "") -> bool:
    """Run every drill (or those whose letters are in ``only``), one line each; True when
    all passed."""
    admin_key = layout.api_key_file.read_text().strip()
    drills = Drills(layout, postgres.Cluster(layout, postgres.binaries()),
                    load.front_desks(layout, admin_key), Client(layout, key=admin_key))
    passed = True
    for name, drill in DRILLS:
        if not only or name[0] in only:
            passed = run_one(name, functools.partial(drill, drills)).passed and passed
    return passed


def run_one(name: str, drill: Callable[[], Result], after: Callable[[], str] = str) -> Result:
    """Run ``drill`` and print its line: PASS or FAIL, its time, its detail, then what
    ``after`` (run whatever happened) adds; a crash fails this drill only."""
    started = time.monotonic()
    try:
        result = drill()
    except Exception as error:  # noqa: BLE001 (a crash fails its drill only)
        traceback.print_exc()
        result = Result(False, f"raised {type(error).__name__}: {error}")
    finally:
        tail = after()
    print(f"{'PASS' if result.passed else 'FAIL'} {name} "
          f"({time.monotonic() - started:.1f} s): {result.detail}{tail}", flush=True)
    return result


# helpers ---------------------------------------------------------------------------


def _booked(desk: FrontDesk, headers: dict[str, str] | None = None) -> Answer:
    answer = desk.client.request("POST", "/api/v1/appointments", {
        "provider_id": desk.provider_id, "patient_id": desk.patient_id,
        "start": (desk.first_slot + desk.booked * load.SLOT).isoformat(), "duration": 5},
        headers)
    desk.booked += 1
    if answer.status != 201:
        raise RuntimeError(f"booking: {answer.status} {answer.body}")
    return answer


def _logged(layout: Layout, request_id: str, path: str, timeout: float = 3) -> bool:
    """Whether an app server's JSON log has a line of ``request_id`` for ``path``."""
    def found() -> bool:
        for instance in WEB_INSTANCES:
            for line in layout.log(instance).read_text(errors="replace").splitlines():
                if request_id in line and line.startswith("{"):
                    entry = json.loads(line)
                    if entry.get("request_id") == request_id and entry.get("path") == path:
                        return True
        return False

    return bool(request_id) and _wait_for(found, timeout)


def _burst(layout: Layout, key: str, count: int = 120, threads: int = 16) -> list[Answer]:
    """``count`` reads at once from one address of its own (past 20 r/s + burst 40)."""
    answers: list[Answer] = []
    lock = threading.Lock()

    def send(share: int) -> None:
        client = Client(layout, source="127.0.0.200", key=key)
        for _ in range(share):
            answer = client.get("/api/v1/providers")
            with lock:
                answers.append(answer)
        client.close()

    workers = [threading.Thread(target=send, args=(count // threads,)) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return answers


def _is_problem(answer: Answer, status: int) -> bool:
    body = answer.body if isinstance(answer.body, dict) else {}
    return (answer.headers.get("content-type") == "application/problem+json"
            and all(field in body for field in PROBLEM_FIELDS) and body["status"] == status)


def _missing_appointments(drills: Drills, ids: list[str]) -> list[str]:
    with drills.primary() as conn:
        found = {str(row[0]) for row in conn.execute(
            "SELECT id FROM appointments WHERE id = ANY(%s::uuid[])", (ids,))}
    return [i for i in ids if i not in found]


def _active_relay(layout: Layout) -> str:
    """The relay that said it is active last and still runs (the others wait)."""
    latest: tuple[str, str] | None = None
    for name in RELAY_INSTANCES:
        if processes.pid_of(layout, name) is None:
            continue
        for line in layout.log(name).read_text(errors="replace").splitlines():
            if '"relay is active"' in line:
                stamp = json.loads(line)["timestamp"]
                if latest is None or stamp > latest[0]:
                    latest = (stamp, name)
    if latest is None:
        raise RuntimeError("no relay says it is active")
    return latest[1]


def _said_active_after(layout: Layout, relay: str, moment: datetime) -> float | None:
    """Seconds from ``moment`` to ``relay``'s log line saying it became active, if after."""
    for line in layout.log(relay).read_text(errors="replace").splitlines():
        if '"relay is active"' in line:
            stamp = datetime.fromisoformat(json.loads(line)["timestamp"])
            if stamp > moment:
                return (stamp - moment).total_seconds()
    return None


def _reconcile(layout: Layout) -> tuple[bool, str]:
    """``flask reconcile`` (read models against their sources) with the units' settings."""
    service = topology.unit_service(layout, "vitalbridge-relay", "reconcile")
    done = subprocess.run([service.command[0], "--app", "wsgi", "reconcile"],
                          env=service.environment, cwd=service.cwd, capture_output=True,
                          text=True, timeout=120)
    last = (done.stdout.strip().splitlines() or ["(no output)"])[-1]
    return done.returncode == 0, last


def _restart(layout: Layout, instance: str) -> None:
    """Start a killed instance again from its unit (as systemd's Restart= would)."""
    unit = {"web": "vitalbridge-web", "relay": "vitalbridge-relay",
            "scheduler": "vitalbridge-scheduler"}[instance.split("-")[0]]
    overrides = {}
    if unit == "vitalbridge-web":
        port = layout.ports.web[WEB_INSTANCES.index(instance)]
        overrides["GUNICORN_BIND"] = f"127.0.0.1:{port}"
    processes.start(topology.unit_service(layout, unit, instance, overrides), layout)


def _pid(layout: Layout, instance: str) -> int:
    pid = processes.pid_of(layout, instance)
    if pid is None:
        raise RuntimeError(f"{instance} is not running")
    return pid


def _token(token: str, wait: int) -> dict[str, str]:
    """The headers of a query that must see the command of ``token``."""
    return {CONSISTENCY_HEADER: token, "Prefer": f"wait={wait}"}


def _meta(answer: Answer) -> dict[str, Any]:
    return (answer.body or {}).get("meta", {}) if isinstance(answer.body, dict) else {}


def _statuses(answers: list[Answer]) -> str:
    counts: dict[int, int] = {}
    for answer in answers:
        counts[answer.status] = counts.get(answer.status, 0) + 1
    return ", ".join(f"{n} x {status}" for status, n in sorted(counts.items())) or "none"


def _seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.2f} s"


def _wait_for(condition: Callable[[], bool], timeout: float, pause: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(pause)
    return True


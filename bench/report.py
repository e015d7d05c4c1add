"""The harness's tables: what was measured, each ratio to its floor or target, growth."""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.datagen import Shape
from bench.services import ROOT

HELLO = "floor: GET /hello (bare Flask)"
LIVE = "GET /health/live"
FLOOR_BOOKING = "floor: booking SQL (bare Flask)"
BOOKING = "Create Appointment"
PGBENCH = "pgbench: booking SQL"
QUERY_P95_MS = {"slots, 1 provider, 7 days": 15.0, "slots, specialty of 50, 7 days": 150.0,
                "search patients (typos)": 20.0, "view appointments, provider week": 10.0,
                "get patient": 5.0}
RSS_MB = 150.0


@dataclass
class Measured:
    """One wrk or pgbench run: latencies in ms."""

    name: str
    requests: int
    seconds: float
    p50: float
    p95: float
    p99: float
    errors: int
    connections: int
    created: int = -1  # 201s counted by book.lua (-1: not a booking run)
    verdict: str = ""  # of the stored-once check, for booking runs
    error_kinds: str = ""  # e.g. "2 status errors, 1 timeouts"

    @property
    def rate(self) -> float:
        """Requests (or transactions) per second."""
        return self.requests / self.seconds


@dataclass
class ScaleRun:
    """Everything measured at one scale."""

    scale: float
    shape: Shape
    load_seconds: float
    measured: list[Measured]
    rss_mb: list[float]
    checks: list[str] = field(default_factory=list)
    postgres: str = ""

    def get(self, name: str) -> Measured:
        """The run called ``name``."""
        return next(m for m in self.measured if m.name == name)


def code_state() -> str:
    """The commit measured (taken when the run starts), and whether the tree differed."""
    changed = " (uncommitted changes)" if _run("git", "status", "--porcelain").strip() else ""
    return f"{_run('git', 'rev-parse', '--short', 'HEAD').strip()}{changed}"


def render(runs: list[ScaleRun], seconds: float, code: str, query_connections: int) -> str:
    """The whole Markdown section body: machine, then each scale, then growth."""
    lines = machine(runs[0].postgres, code)
    lines.append(f"Each run after a warm-up of its own: `wrk -t2 -c16 -d{seconds:g}s -s "
                 f"bench/wrk/get.lua` (hello, /health/live: the best of 3 alternating rounds; "
                 f"VB_WRK_PATHS: a file of paths) or "
                 f"`-s bench/wrk/book.lua` (bookings); the queries `wrk "
                 f"-t{min(2, query_connections)} -c{query_connections}` (1: a request's own "
                 f"latency, no queueing); `pgbench -n -M prepared -c 8 -j 2 -T {seconds:g} "
                 f"-f bench/pgbench/book.sql`. The app: `gunicorn -c deploy/gunicorn.conf.py "
                 f"wsgi:app` with `flask outbox relay` running; the floor: the same with "
                 f"`bench.floor_app:app`; each scale in a fresh database.")
    for run in runs:
        lines += _scale(run)
    if len(runs) > 1:
        lines += _growth(runs[0], runs[-1])
    return "\n".join(lines)


def machine(postgres: str, code: str) -> list[str]:
    """The machine, PostgreSQL, Python, commit and time of a run, and a blank line."""
    model = next((line.split(":", 1)[1].strip() for line in _run("lscpu").splitlines()
                  if line.startswith("Model name")), platform.processor())
    ram = int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024
    return [f"Machine: {os.cpu_count()} CPUs ({model}), {ram:.0f} GiB RAM; PostgreSQL "
            f"{postgres}; Python {platform.python_version()}; commit {code};"
            f" {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.", ""]


def _scale(run: ScaleRun) -> list[str]:
    shape = run.shape
    lines = ["", f"### Scale {run.scale:g}: {shape.providers:,} providers, "
             f"{shape.patients:,} patients, {shape.appointments:,} appointments "
             f"(loaded and rebuilt in {run.load_seconds:.0f} s)", "",
             "| run | connections | requests | req/s | p50 ms | p95 ms | p99 ms | errors |",
             "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {m.name} | {m.connections} | {m.requests:,} | {m.rate:,.0f} | {m.p50:.1f} | "
              f"{m.p95:.1f} | {m.p99:.1f} | {m.errors}"
              f"{f' ({m.error_kinds})' if m.error_kinds else ''} |" for m in run.measured]
    lines += ["", "| ratio or figure | measured | target | |", "|---|---|---|---|"]
    lines += [_row(*check) for check in _targets(run)]
    lines += ["", *(f"- {check}" for check in run.checks),
              f"- peak RSS (VmHWM) of the app's gunicorn workers: "
              f"{', '.join(f'{mb:.0f} MiB' for mb in run.rss_mb)}"]
    return lines


def _targets(run: ScaleRun) -> list[tuple[str, float, str, bool]]:
    booking, floor = run.get(BOOKING), run.get(FLOOR_BOOKING)
    live, hello = run.get(LIVE), run.get(HELLO)
    speed, tail, plain = booking.rate / floor.rate, booking.p99 / floor.p99, live.rate / hello.rate
    rows = [("Create Appointment req/s / floor booking req/s", speed, ">= 0.5", speed >= 0.5),
            ("Create Appointment p99 / floor booking p99", tail, "<= 2", tail <= 2),
            ("Create Appointment errors (and every 201 stored once)", booking.errors, "0",
             booking.errors == 0 and booking.verdict == "ok"),
            ("GET /health/live req/s / bare hello req/s", plain, ">= 0.8", plain >= 0.8)]
    rows += [(f"{name} p95 ms (target at full size)", run.get(name).p95, f"<= {limit:g}",
              run.get(name).p95 <= limit) for name, limit in QUERY_P95_MS.items()]
    worst = max(run.rss_mb, default=0.0)
    rows.append(("peak RSS per app worker, MiB (largest)", worst, f"<= {RSS_MB:g}",
                 worst <= RSS_MB))
    return rows


def _growth(small: ScaleRun, large: ScaleRun) -> list[str]:
    lines = ["", f"### Growth: scale {large.scale:g} / scale {small.scale:g}", "",
             "| ratio | measured | target | |", "|---|---|---|---|"]
    for name in QUERY_P95_MS:
        ratio = large.get(name).p95 / small.get(name).p95
        lines.append(_row(f"{name} p95", ratio, "<= 2", ratio <= 2))
    ratio = large.get(BOOKING).rate / small.get(BOOKING).rate
    lines.append(_row("Create Appointment req/s", ratio, ">= 0.8", ratio >= 0.8))
    return lines


def _row(what: str, value: float, target: str, met: bool) -> str:
    return f"| {what} | {value:,.2f} | {target} | {'met' if met else 'MISSED'} |"


def _run(*command: str) -> str:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True).stdout


def append_section(results: Path, body: str, command: str) -> None:
    """Append the run to ``results`` as a dated section with its command."""
    section = (f"\n## Benchmark harness, `make bench` ({datetime.now(UTC):%Y-%m-%d})\n\n"
               f"Command: `{command}`\n\n{body}\n")
    with results.open("a") as out:
        out.write(section)

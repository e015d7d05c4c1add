"""``flask scheduler run``: periodic jobs in their own process, never in gunicorn workers.

One scheduler is active at a time, on any number of hosts: it holds a PostgreSQL
advisory lock (vitalbridge/messaging/leadership.py); the others wait as standbys and
take over within SCHEDULER_POLL_SECONDS when it dies (SIGKILL included). Each job's
last run and next due time are kept in ``scheduled_job_runs``, so the one that takes
over runs a due job at once. A failed job is logged (class and frames, never its
message), counted, and runs again at its next time; it never stops the scheduler.
``flask scheduler status`` shows every job from the table, from any host.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import click
import psycopg
from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask, current_app
from flask.cli import AppGroup
from prometheus_client import Counter, Gauge
from sqlalchemy import Engine

from vitalbridge import heap, job_runs
from vitalbridge.messaging.cli import build_relay
from vitalbridge.messaging.errors import failure_summary
from vitalbridge.messaging.leadership import leadership, still_held
from vitalbridge.messaging.maintenance import purge_delivered_events, purge_idempotency_keys
from vitalbridge.reconciliation.cli import reconcile_every_tenant
from vitalbridge.reminder_job import send_reminders
from vitalbridge.reporting.metrics_cli import compute_clinic_metrics
from vitalbridge.reporting.read_models import PROVIDER_DAYS, ProviderDays
from vitalbridge.reporting.window import roll_windows
from vitalbridge.services import services

log = logging.getLogger(__name__)
scheduler_cli = AppGroup("scheduler", help="Periodic maintenance jobs.")

SCHEDULER_LOCK_KEY = 0x76_62_73_63  # "vbsc": the advisory lock that elects the scheduler

LAST_SUCCESS = Gauge("vitalbridge_scheduler_job_last_success_timestamp_seconds",
                     "When a job last succeeded (Unix time).", ["job"],
                     multiprocess_mode="livemax")
DURATION = Gauge("vitalbridge_scheduler_job_last_duration_seconds",
                 "How long a job's last run took.", ["job"], multiprocess_mode="livemax")
FAILURES = Counter("vitalbridge_scheduler_job_failures_total", "Failed job runs.", ["job"])


def purge_expired_idempotency_keys() -> int:
    """Delete idempotency records past IDEMPOTENCY_TTL_HOURS (the worker role sees all)."""
    removed = purge_idempotency_keys(build_relay().engine,
                                     services().settings.idempotency_ttl_hours)
    log.info("purged idempotency keys", extra={"count": removed})
    return removed


def purge_old_events() -> int:
    """Delete events delivered more than OUTBOX_RETENTION_DAYS ago."""
    removed = purge_delivered_events(build_relay().engine,
                                     services().settings.outbox_retention_days)
    log.info("purged delivered events", extra={"count": removed})
    return removed


def roll_report_window() -> int:
    """Move the daily provider figures' window to today's; the number of tenants moved."""
    svc = services()
    model = svc.read_model(PROVIDER_DAYS)
    assert isinstance(model, ProviderDays)
    report = roll_windows(svc.db, build_relay().engine, svc.queries, model)
    log.info("rolled the report window", extra={"tenants": report.tenants,
                                                 "new_dates": report.new_dates})
    return report.tenants


@dataclass(frozen=True)
class Job:
    """A periodic job: its name, what it runs (in an app context) and how often."""

    name: str
    run: Callable[[], int]
    interval: timedelta


HOURLY, EVERY_MINUTE, DAILY = timedelta(hours=1), timedelta(minutes=1), timedelta(days=1)
JOBS = [
    *(Job(job.__name__, job, HOURLY) for job in
      (purge_expired_idempotency_keys, purge_old_events, roll_report_window,
       compute_clinic_metrics)),
    Job("send_reminders", send_reminders, EVERY_MINUTE),
    Job("reconcile", reconcile_every_tenant, DAILY),
]


def scheduled_jobs(app: Flask) -> list[Job]:
    """The jobs with their intervals (SCHEDULER_INTERVAL_SECONDS, when set, for all)."""
    override = app.config["SETTINGS"].scheduler_interval_seconds
    if not override:
        return list(JOBS)
    return [Job(job.name, job.run, timedelta(seconds=override)) for job in JOBS]


@dataclass
class Scheduler:
    """Runs ``jobs`` while it is the active scheduler; a standby until then."""

    app: Flask
    engine: Engine  # the relay role's: the jobs' and the job-runs table's
    jobs: list[Job]
    poll_seconds: float
    identity: str = f"{socket.gethostname()}:{os.getpid()}"

    def run(self, stop: threading.Event) -> None:
        """Until ``stop``: wait for the lock, run the jobs while holding it, repeat."""
        while not stop.is_set():
            with leadership(self.engine, SCHEDULER_LOCK_KEY, wait=stop,
                            poll_seconds=self.poll_seconds, role="scheduler") as holder:
                if holder is None:
                    return
                self._lead(holder, stop)

    def _lead(self, holder: psycopg.Connection, stop: threading.Event) -> None:
        now = datetime.now(UTC)
        background = BackgroundScheduler(timezone="UTC")
        for job in self.jobs:
            background.add_job(self._runner(job), "interval", id=job.name,
                               seconds=job.interval.total_seconds(),
                               next_run_time=job_runs.next_run(self.engine, job.name,
                                                               job.interval, now),
                               coalesce=True, max_instances=1, misfire_grace_time=None)
        background.start()
        try:
            while not stop.wait(min(self.poll_seconds, 1.0)):
                if not still_held(holder):
                    log.warning("scheduler lost its lock; back to standby")
                    return
        finally:
            background.shutdown(wait=True)  # a running job finishes its transaction

    def _runner(self, job: Job) -> Callable[[], None]:
        def run() -> None:
            run_job(self.app, self.engine, job, self.identity)

        return run


def run_job(app: Flask, engine: Engine, job: Job, identity: str) -> None:
    """Run ``job`` once, recording it; a failure is logged and counted, never raised."""
    started = datetime.now(UTC)
    job_runs.started(engine, job.name, job.interval, started, identity)
    clock = time.perf_counter()
    failure = None
    try:
        with app.app_context():
            job.run()
    except Exception as error:
        failure = failure_summary(error)
        FAILURES.labels(job.name).inc()
        log.exception("scheduled job failed", extra={"job": job.name})
    seconds = time.perf_counter() - clock
    finished = datetime.now(UTC)
    job_runs.finished(engine, job.name, finished, seconds, failure)
    DURATION.labels(job.name).set(seconds)
    if failure is None:
        LAST_SUCCESS.labels(job.name).set(finished.timestamp())


@scheduler_cli.command("run")
def run() -> None:
    """Run the periodic jobs until SIGTERM or Ctrl-C (a standby while another is active)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    scheduler = Scheduler(app=app, engine=build_relay().engine, jobs=scheduled_jobs(app),
                          poll_seconds=app.config["SETTINGS"].scheduler_poll_seconds)
    click.echo(f"scheduler: {len(scheduler.jobs)} job(s); active when it holds the lock, "
               "a standby otherwise (Ctrl-C stops)", err=True)
    heap.settle()
    try:
        scheduler.run(stop)
    except KeyboardInterrupt:
        stop.set()


@scheduler_cli.command("run-once")
@click.argument("job_name")
def run_once(job_name: str) -> None:
    """Run one job now, by name (e.g. purge_expired_idempotency_keys)."""
    jobs = {job.name: job for job in JOBS}
    if job_name not in jobs:
        raise click.BadParameter(f"unknown job; known: {', '.join(jobs)}")
    click.echo(f"{job_name}: {jobs[job_name].run()}")


@scheduler_cli.command("status")
def status() -> None:
    """Each job: its interval, last start, duration, outcome, next run and runner."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    runs = job_runs.all_runs(build_relay().engine)
    click.echo(f"{'job':32} {'every':>8} {'last start (UTC)':20} {'took':>8} "
               f"{'next run (UTC)':20} {'outcome':24} run by")
    for job in scheduled_jobs(app):
        row = runs.get(job.name)
        click.echo(f"{job.name:32} {_every(job.interval):>8} "
                   f"{_when(row.last_started_at if row else None):20} "
                   f"{_took(row.last_duration_seconds if row else None):>8} "
                   f"{_when(row.next_run_at if row else None):20} "
                   f"{(row.last_outcome or '-') if row else 'never run':24} "
                   f"{(row.run_by or '-') if row else '-'}")


def _every(interval: timedelta) -> str:
    seconds = int(interval.total_seconds())
    return f"{seconds // 3600}h" if seconds % 3600 == 0 else f"{seconds}s"


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def _took(seconds: float | None) -> str:
    return f"{seconds:.2f}s" if seconds is not None else "-"

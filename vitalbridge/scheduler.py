"""``flask scheduler run``: periodic jobs in their own process, never in gunicorn workers."""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable

import click
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask, current_app
from flask.cli import AppGroup

from vitalbridge.messaging.cli import build_relay
from vitalbridge.messaging.maintenance import purge_delivered_events, purge_idempotency_keys
from vitalbridge.reporting.read_models import PROVIDER_DAYS, ProviderDays
from vitalbridge.reporting.window import roll_windows
from vitalbridge.services import services

log = logging.getLogger(__name__)
scheduler_cli = AppGroup("scheduler", help="Periodic maintenance jobs.")


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


# (job, minutes between runs)
JOBS: list[tuple[Callable[[], int], int]] = [
    (purge_expired_idempotency_keys, 60),
    (purge_old_events, 60),
    (roll_report_window, 60),
]


def _in_app_context(app: Flask, job: Callable[[], int]) -> Callable[[], None]:
    def run() -> None:
        # A failed job is logged (class and frames, never its message) and runs again at
        # its next time; it never stops the scheduler.
        try:
            with app.app_context():
                job()
        except Exception:
            log.exception("scheduled job failed", extra={"job": job.__name__})

    return run


@scheduler_cli.command("run")
def run() -> None:
    """Run the periodic jobs until SIGTERM or Ctrl-C."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    scheduler = BlockingScheduler(timezone="UTC")
    for job, minutes in JOBS:
        scheduler.add_job(_in_app_context(app, job), "interval", minutes=minutes,
                          id=job.__name__, coalesce=True, max_instances=1)
    signal.signal(signal.SIGTERM, lambda *_: scheduler.shutdown(wait=False))
    click.echo(f"scheduler: {len(JOBS)} job(s) scheduled (Ctrl-C stops)", err=True)
    try:
        scheduler.start()
    except KeyboardInterrupt:
        scheduler.shutdown(wait=False)


@scheduler_cli.command("run-once")
@click.argument("job_name")
def run_once(job_name: str) -> None:
    """Run one job now, by name (e.g. purge_expired_idempotency_keys)."""
    jobs = {job.__name__: job for job, _ in JOBS}
    if job_name not in jobs:
        raise click.BadParameter(f"unknown job; known: {', '.join(jobs)}")
    click.echo(f"{job_name}: {jobs[job_name]()}")

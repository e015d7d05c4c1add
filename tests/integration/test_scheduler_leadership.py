"""One active scheduler: two at once run each job once per interval; a failed job is
recorded and runs again; a standby takes over a SIGKILLed scheduler within 10 s; and
``flask scheduler status`` shows every job."""

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from vitalbridge import create_app
from vitalbridge.messaging.cli import build_relay
from vitalbridge.scheduler import JOBS, Job, Scheduler, run_job

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def scheduler_app(owner_url):
    app = create_app(database_url=owner_url, env="testing")
    yield app
    app.extensions["vitalbridge"].db.dispose()


def _engine(app):
    with app.app_context():
        return build_relay().engine


def _run_for(schedulers, seconds):
    stop = threading.Event()
    threads = [threading.Thread(target=s.run, args=(stop,), daemon=True) for s in schedulers]
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    alive = [thread.is_alive() for thread in threads]
    stop.set()
    for thread in threads:
        thread.join(timeout=10)
    return alive


def test_two_schedulers_run_each_job_once_per_interval(scheduler_app):
    runs, lock = [], threading.Lock()

    def probe(name):
        def run():
            with lock:
                runs.append((name, time.monotonic()))
            return 0
        return run

    engine = _engine(scheduler_app)
    schedulers = [Scheduler(app=scheduler_app, engine=engine, identity=name, poll_seconds=0.2,
                            jobs=[Job("probe", probe(name), timedelta(seconds=1))])
                  for name in ("first", "second")]
    _run_for(schedulers, 4.6)
    assert 3 <= len(runs) <= 5, runs  # one run a second, not two
    assert len({name for name, _ in runs}) == 1, runs  # all by the active one


def test_a_failed_job_is_recorded_and_runs_again_at_its_next_time(scheduler_app, owner_engine):
    def broken():
        raise RuntimeError("not today")

    scheduler = Scheduler(app=scheduler_app, engine=_engine(scheduler_app), poll_seconds=0.2,
                          jobs=[Job("broken", broken, timedelta(seconds=1))])
    [alive] = _run_for([scheduler], 3.5)
    assert alive  # the scheduler went on
    with owner_engine.connect() as conn:
        row = conn.execute(text("SELECT last_outcome, failures_in_a_row, last_success_at "
                                "FROM scheduled_job_runs WHERE job = 'broken'")).one()
    assert row.last_outcome == "failed: RuntimeError"
    assert row.failures_in_a_row >= 2
    assert row.last_success_at is None


def test_status_shows_every_job_and_its_last_run(scheduler_app):
    engine = _engine(scheduler_app)
    run_job(scheduler_app, engine, JOBS[0], "host-a:1")
    result = scheduler_app.test_cli_runner().invoke(args=["scheduler", "status"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines()[1:]}
    assert set(lines) == {job.name for job in JOBS}
    first = lines[JOBS[0].name]
    assert "1h" in first
    assert "succeeded" in first
    assert "host-a:1" in first
    assert "never run" in lines[JOBS[1].name]


def _active_pid(owner_engine):
    with owner_engine.connect() as conn:
        rows = conn.execute(text("SELECT DISTINCT run_by FROM scheduled_job_runs "
                                 "WHERE run_by IS NOT NULL")).scalars().all()
    return {int(by.rsplit(":", 1)[1]) for by in rows}


def _started_by(owner_engine, pid, since):
    with owner_engine.connect() as conn:
        return conn.execute(text(
            "SELECT count(*) FROM scheduled_job_runs WHERE run_by LIKE :by "
            "AND last_started_at > :since"), {"by": f"%:{pid}", "since": since}).scalar_one()


@pytest.mark.slow
def test_a_standby_takes_over_a_killed_scheduler_within_ten_seconds(owner_url, owner_engine):
    env = {**os.environ, "DATABASE_URL": owner_url, "VITALBRIDGE_ENV": "testing",
           "SCHEDULER_INTERVAL_SECONDS": "3", "SCHEDULER_POLL_SECONDS": "1"}
    command = [sys.executable, "-m", "flask", "--app", "wsgi", "scheduler", "run"]
    both = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL) for _ in range(2)]
    try:
        deadline = time.monotonic() + 30
        while not _active_pid(owner_engine) and time.monotonic() < deadline:
            time.sleep(0.3)
        [active] = _active_pid(owner_engine)
        [standby] = [p for p in both if p.pid != active]
        killed_at = datetime.now(UTC)
        os.kill(active, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while not _started_by(owner_engine, standby.pid, killed_at):
            assert time.monotonic() < deadline, "the standby did not take over within 10 s"
            time.sleep(0.2)
    finally:
        for process in both:
            if process.poll() is None:
                process.terminate()
        for process in both:
            process.wait(timeout=30)

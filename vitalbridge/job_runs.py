"""What each scheduled job did last, and when it runs next (table scheduled_job_runs).

Written by the active scheduler as each job starts and ends, read by a scheduler that
takes over (to run what is due at once) and by ``flask scheduler status``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Table, select, update
from sqlalchemy.dialects.postgresql import insert

from vitalbridge.messaging.model import ScheduledJobRun

TABLE: Table = ScheduledJobRun.__table__  # type: ignore[assignment]


def next_run(engine: Engine, job: str, interval: timedelta, now: datetime) -> datetime:
    """When ``job`` is due: its recorded next run if already past (at once), else then;
    a job never run before is due an interval from now."""
    with engine.connect() as conn:
        recorded = conn.scalar(select(ScheduledJobRun.next_run_at)
                               .where(ScheduledJobRun.job == job))
    if recorded is None:
        return now + interval
    return max(recorded, now)


def started(engine: Engine, job: str, interval: timedelta, at: datetime, by: str) -> None:
    """``job`` starts now: record it, and its next run an interval later."""
    values = {"job": job, "interval_seconds": int(interval.total_seconds()),
              "last_started_at": at, "next_run_at": at + interval, "run_by": by}
    with engine.begin() as conn:
        conn.execute(insert(TABLE).values(**values).on_conflict_do_update(
            index_elements=["job"], set_={k: v for k, v in values.items() if k != "job"}))


def finished(engine: Engine, job: str, at: datetime, seconds: float,
             failure: str | None) -> None:
    """``job`` ended at ``at`` after ``seconds``: succeeded, or failed with ``failure``
    (a class and SQLSTATE, never a message)."""
    changes: dict[str, object] = {"last_finished_at": at, "last_duration_seconds": seconds}
    if failure is None:
        changes |= {"last_outcome": "succeeded", "failures_in_a_row": 0,
                    "last_success_at": at}
    else:
        changes |= {"last_outcome": f"failed: {failure}",
                    "failures_in_a_row": TABLE.c.failures_in_a_row + 1}
    with engine.begin() as conn:
        conn.execute(update(TABLE).where(TABLE.c.job == job).values(**changes))


def all_runs(engine: Engine) -> dict[str, Any]:
    """Every recorded job's row, by name."""
    with engine.connect() as conn:
        return {row.job: row for row in conn.execute(select(TABLE))}

"""The backup drills: each on a topology of its own (two of them destroy the primary),
under the steady stream of bookings of deploy/topology/load.py, every outcome read back
from the restored database.

1. Point in time: a backup; moment T; the appointments table dropped; a restore to T
   holds every appointment committed up to T, row for row, and none after; the restored
   database passes deploy/check-restored.sh (db check, outbox drain, reconcile).
2. Lost primary: SIGKILL and its data directory removed; a restore of the latest backup
   and the archived WAL holds every booking answered 201 more than archive_timeout + 5 s
   before the kill. What it lost (the recovery point) is measured and printed.
3. A full, a differential and an incremental backup taken while the relays, schedulers
   and 8 booking clients run: ``pgbackrest verify`` passes, and the incremental one
   restored alone (``--type=immediate``) passes deploy/check-restored.sh.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from deploy.topology import backup, load, postgres, restored, topology
from deploy.topology.drills import Result, run_one
from deploy.topology.layout import DATABASE, Layout
from deploy.topology.load import FrontDesk, Outcome, booking_stream

# The drills' archive_timeout (the default is 60 s): the lost-primary drill waits for
# more than archive_timeout + 5 s of bookings before the kill.
DRILL_ARCHIVE_TIMEOUT = 10
STEADY_SECONDS = 3.0


@dataclass
class BackupDrills:
    layout: Layout
    cluster: postgres.Cluster
    desks: list[FrontDesk]
    # A drill that cannot fail proves nothing: with it, drill 1 restores to a moment
    # after the drop, and must fail.
    target_after_drop: bool = False

    def primary_now(self) -> datetime:
        with self.cluster.superuser(self.layout.ports.primary, DATABASE) as conn:
            return conn.execute("SELECT clock_timestamp()").fetchone()[0]  # type: ignore[index]

    def wal_position(self) -> tuple[int, datetime, float]:
        """The primary's WAL write position (bytes), its clock, and the seconds since it
        last archived a segment."""
        with self.cluster.superuser(self.layout.ports.primary, DATABASE) as conn:
            row = conn.execute(
                "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn, clock_timestamp(), "
                "extract(epoch FROM clock_timestamp() - last_archived_time) "
                "FROM pg_stat_archiver").fetchone()
        assert row is not None
        return int(row[0]), row[1], float(row[2] or 0)

    # 1. ------------------------------------------------------------------------------

    def point_in_time(self) -> Result:
        with booking_stream(self.desks) as outcome:
            time.sleep(STEADY_SECONDS)
            label = backup.backup(self.layout, "incr")
            time.sleep(STEADY_SECONDS)
            before = time.monotonic()
            moment = self.primary_now()
            after = time.monotonic()
            time.sleep(STEADY_SECONDS)
            with self.cluster.superuser(self.layout.ports.primary, DATABASE) as conn:
                rows = restored.appointment_rows(conn)
                conn.execute("DROP TABLE appointments CASCADE")  # the operator's error
            dropped = self.primary_now()
            time.sleep(1)
        backup.pgbackrest(self.layout, "check")  # the WAL up to the drop is archived
        target = dropped if self.target_after_drop else moment
        copy = restored.restore(self.layout, self.cluster, "pitr", target)
        try:
            with copy.connect() as conn:
                table = conn.execute("SELECT to_regclass('appointments')").fetchone()[0]  # type: ignore[index]
                found = restored.appointment_rows(conn) if table else {}
            checked = restored.check(copy)
        finally:
            copy.remove()
        wanted = {key: digest for key, (digest, at) in rows.items() if at is None or at <= moment}
        got = {key: digest for key, (digest, _) in found.items()}
        missing = wanted.keys() - got.keys()
        extra = got.keys() - wanted.keys()
        differ = [key for key in wanted.keys() & got.keys() if wanted[key] != got[key]]
        answered, late = _answered_before(outcome, before), _sent_after(outcome, after)
        passed = (not missing and not extra and not differ and bool(answered)
                  and set(answered) <= got.keys() and not set(late) & got.keys()
                  and checked[0])
        return Result(passed, (
            f"backup {label} under load; T = {moment.isoformat()}, drop "
            f"{(dropped - moment).total_seconds():.1f} s later; restored to "
            f"{'the drop (broken on purpose)' if self.target_after_drop else 'T'} in "
            f"{copy.seconds:.1f} s; appointments committed by T: {len(wanted)}, restored "
            f"{len(got)} (missing {len(missing)}, after T {len(extra)}, rows that differ "
            f"{len(differ)}); 201s answered before T present: "
            f"{len(set(answered) & got.keys())}/{len(answered)}, bookings sent after T "
            f"present: {len(set(late) & got.keys())}/{len(late)}; "
            f"check-restored: {'ok' if checked[0] else 'FAILED'} ({checked[1]})"))

    # 2. ------------------------------------------------------------------------------

    def lost_primary(self) -> Result:
        bound = backup.archive_timeout() + 5
        with booking_stream(self.desks) as outcome:
            first = self.wal_position()
            time.sleep(bound + STEADY_SECONDS)
            wal = self.wal_position()
            wal_rate = (wal[0] - first[0]) / (wal[1] - first[1]).total_seconds()
            killed = time.monotonic()
            restored.destroy_primary(self.layout)
            time.sleep(2)
        copy = restored.restore(self.layout, self.cluster, "latest")
        try:
            with copy.connect() as conn:
                found = {str(row[0]) for row in conn.execute("SELECT id FROM appointments")}
            checked = restored.check(copy)
        finally:
            copy.remove()
        answers = [(a.sent_at + a.took, str(a.body["id"])) for a in outcome.answers
                   if a.status == 201 and a.sent_at + a.took <= killed]
        lost = [(at, key) for at, key in answers if key not in found]
        old_lost = [key for at, key in lost if killed - at > bound]
        rpo = max((killed - at for at, _ in lost), default=0.0)
        newest = min((killed - at for at, key in answers if key in found), default=None)
        passed = bool(answers) and not old_lost and checked[0]
        return Result(passed, (
            f"archive_timeout {backup.archive_timeout()} s; WAL written at "
            f"{wal_rate / 2**10:.0f} kB/s, the last segment archived {wal[2]:.1f} s before "
            f"the kill; {len(answers)} bookings answered "
            f"201 before the kill, {len(lost)} lost, of them answered more than {bound} s "
            f"before the kill: {len(old_lost)}; RPO (oldest lost booking's answer before "
            f"the kill): {rpo:.1f} s; newest booking kept answered "
            f"{'-' if newest is None else f'{newest:.1f} s'} before the kill; restore + "
            f"replay + promotion {copy.seconds:.1f} s; check-restored: "
            f"{'ok' if checked[0] else 'FAILED'} ({checked[1]})"))

    # 3. ------------------------------------------------------------------------------

    def backups_under_load(self) -> Result:
        with booking_stream(self.desks) as outcome:
            time.sleep(STEADY_SECONDS)
            labels = [backup.backup(self.layout, kind) for kind in ("full", "diff", "incr")]
            time.sleep(1)
        backup.pgbackrest(self.layout, "verify")
        copy = restored.restore(self.layout, self.cluster, "incr",
                                options=f"--set={labels[-1]} --type=immediate "
                                        "--target-action=promote")
        try:
            with copy.connect() as conn:
                count = conn.execute("SELECT count(*) FROM appointments").fetchone()[0]  # type: ignore[index]
            checked = restored.check(copy)
        finally:
            copy.remove()
        passed = checked[0] and len(outcome.booked_ids()) > 0 and not outcome.failures()
        return Result(passed, (
            f"backups {', '.join(labels)} while {len(outcome.booked_ids())} bookings were "
            f"answered 201 (failures {len(outcome.failures())}); verify ok; {labels[-1]} "
            f"restored alone in {copy.seconds:.1f} s with {count} appointments; "
            f"check-restored: {'ok' if checked[0] else 'FAILED'} ({checked[1]})"))


DRILLS: list[tuple[str, Callable[[BackupDrills], Result]]] = [
    ("1. point-in-time restore after DROP TABLE under load", BackupDrills.point_in_time),
    ("2. primary killed and its disk lost under load", BackupDrills.lost_primary),
    ("3. full, diff and incr backups under load restore", BackupDrills.backups_under_load),
]


def run_all(layout: Layout, only: str = "", target_after_drop: bool = False) -> bool:
    """Each drill (or those whose numbers are in ``only``) on a topology of its own, up
    and down around it; one line each; True when every one passed and nothing is left."""
    os.environ.setdefault(backup.ARCHIVE_TIMEOUT_ENV, str(DRILL_ARCHIVE_TIMEOUT))
    passed = True
    for name, drill in DRILLS:
        if not only or name[0] in only:
            passed = _on_its_own_topology(layout, name, drill, target_after_drop) and passed
    return passed


def _on_its_own_topology(layout: Layout, name: str, drill: Callable[[BackupDrills], Result],
                         target_after_drop: bool) -> bool:
    """One drill between the topology's up and down; True when it passed and no process
    of the topology was left behind."""
    left: list[int] = []

    def run() -> Result:
        topology.up(layout)
        cluster = postgres.Cluster(layout, postgres.binaries())
        desks = load.front_desks(layout, layout.api_key_file.read_text().strip())
        return drill(BackupDrills(layout, cluster, desks, target_after_drop))

    def take_down() -> str:
        topology.down(layout)
        left.extend(topology.stray_processes(layout))
        return f"; processes left: {len(left)}"

    return run_one(name, run, after=take_down).passed and not left


def _answered_before(outcome: Outcome, moment: float) -> list[str]:
    return [str(a.body["id"]) for a in outcome.answers
            if a.status == 201 and a.sent_at + a.took < moment]


def _sent_after(outcome: Outcome, moment: float) -> list[str]:
    return [str(a.body["id"]) for a in outcome.answers if a.status == 201 and a.sent_at > moment]

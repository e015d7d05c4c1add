"""A database restored from the backups beside the running topology, by the runbook's own
scripts (deploy/restore-database.sh, deploy/check-restored.sh), and what the backup
drills read from it and from the primary.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg

from deploy.topology import backup, topology
from deploy.topology.layout import DATABASE, ROOT, Layout
from deploy.topology.postgres import Cluster, server_user

RESTORE_SCRIPT = ROOT / "deploy" / "restore-database.sh"
CHECK_SCRIPT = ROOT / "deploy" / "check-restored.sh"
# Each appointment, the digest of its whole row and when its transaction committed (the
# clock a point-in-time recovery stops by; needs track_commit_timestamp).
APPOINTMENT_ROWS = ("SELECT a.id::text, md5(a::text), pg_xact_commit_timestamp(a.xmin) "
                    "FROM appointments a")


@dataclass(frozen=True)
class Restored:
    """A restored server on the layout's ``restored`` port, and how long it took to be up:
    restore, replay of the archived WAL and promotion, until it takes writes."""

    layout: Layout
    cluster: Cluster
    data: Path
    seconds: float
    output: str

    def connect(self) -> psycopg.Connection:
        return self.cluster.superuser(self.layout.ports.restored, DATABASE)

    def remove(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError):
            self.cluster.stop(self.data)
        shutil.rmtree(self.data, ignore_errors=True)


def restore(layout: Layout, cluster: Cluster, name: str, target: datetime | None = None,
            options: str = "") -> Restored:
    """deploy/restore-database.sh into a fresh directory, as the server user: to
    ``target`` when given, else to the end of the archived WAL. The copy never archives."""
    data = layout.restored_data(name)
    shutil.rmtree(data, ignore_errors=True)
    port = layout.ports.restored
    env = {**os.environ, "PGBACKREST_CONFIG": str(backup.config_file(layout)),
           "PGBACKREST_STANZA": backup.STANZA, "PG_BIN": str(cluster.bin),
           "PG_OPTIONS": cluster.server_options(port), "PGHOST": str(layout.pg_socket_dir),
           "RESTORE_OPTIONS": f"--archive-mode=off {options}".strip()}
    command = [str(RESTORE_SCRIPT), str(data), str(port)]
    if target is not None:
        command.append(target.isoformat(sep=" "))
    user = server_user()
    if user is not None:
        command = ["su", user, "-s", "/bin/sh", "-c", shlex.join(command)]
    started = time.monotonic()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=7200,
                          check=False)
    took = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"restore-database.sh exited {done.returncode}: "
                           f"{(done.stdout + done.stderr).strip()[-2000:]}")
    return Restored(layout, cluster, data, took, done.stdout)


def check(restored: Restored) -> tuple[bool, str]:
    """deploy/check-restored.sh (db check, outbox drain, reconcile) on the restored copy,
    with the units' settings pointed at it. Neither the replica nor the broker: the copy
    is checked, not put into service, so it must not publish events again."""
    environment = restored_settings(restored.layout)
    done = subprocess.run([str(CHECK_SCRIPT)], env=environment, cwd=ROOT,
                          capture_output=True, text=True, timeout=600, check=False)
    said = [line for line in done.stdout.splitlines() if line.strip()]
    return done.returncode == 0, " / ".join(said[-3:]) or "(no output)"


def restored_settings(layout: Layout) -> dict[str, str]:
    """The relay unit's environment with every database URL moved to the restored port."""
    service = topology.unit_service(layout, "vitalbridge-relay", "restored-check")
    primary, copy = f"127.0.0.1:{layout.ports.primary}/", f"127.0.0.1:{layout.ports.restored}/"
    environment = {key: value.replace(primary, copy)
                   for key, value in service.environment.items()
                   if key not in ("DATABASE_REPLICA_URL", "EVENT_BROKER_URL")}
    environment["FLASK"] = service.command[0]
    return environment


def appointment_rows(conn: psycopg.Connection) -> dict[str, tuple[str, datetime | None]]:
    return {row[0]: (row[1], row[2]) for row in conn.execute(APPOINTMENT_ROWS)}


def destroy_primary(layout: Layout) -> None:
    """SIGKILL the primary's postmaster and every process it started, then remove its
    data directory: the disk is gone, with the WAL not yet archived."""
    postmaster = int((layout.primary_data / "postmaster.pid").read_text().split()[0])
    children = [int(entry.name) for entry in Path("/proc").iterdir()
                if entry.name.isdigit() and _parent(entry) == postmaster]
    for pid in (postmaster, *children):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in (postmaster, *children)) \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    shutil.rmtree(layout.primary_data)


def _parent(entry: Path) -> int | None:
    try:
        stat = (entry / "stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2:].split()[1])

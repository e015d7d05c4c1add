"""`make backup-drill` run for real: pgBackRest backs up the topology's primary, and the
three backup drills restore it (to a point in time after a DROP TABLE, after the primary
and its data directory are gone, and a backup taken under load). Skipped where
pgbackrest, nginx or PostgreSQL's binaries are not installed; about two minutes."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
PGBACKREST = shutil.which("pgbackrest") or (
    "/usr/bin/pgbackrest" if Path("/usr/bin/pgbackrest").exists() else None)
POSTGRES = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_basebackup"))

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(PGBACKREST is None,
                       reason="pgbackrest is not installed (apt-get install pgbackrest)"),
    pytest.mark.skipif(NGINX is None, reason="nginx is not installed (apt-get install nginx)"),
    pytest.mark.skipif(not POSTGRES, reason="PostgreSQL's binaries are not installed "
                       "(apt-get install postgresql: initdb, pg_ctl, pg_basebackup)"),
]


def backup_drill(*args: str) -> tuple[subprocess.CompletedProcess[str], str]:
    # A state folder and ports of their own, under var/ (git-ignored), which the postgres
    # user the servers run as (when root) can enter, unlike /tmp/pytest-of-root.
    state = ROOT / "var" / f"backup-test-{os.getpid()}"
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
           "TOPOLOGY_STATE": str(state), "TOPOLOGY_PORT_BASE": "17700"}
    try:
        done = subprocess.run([sys.executable, "-m", "deploy.topology", "backup-drill", *args],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=880)
    finally:
        shutil.rmtree(state, ignore_errors=True)
    return done, done.stdout + done.stderr[-3000:]


@pytest.mark.timeout(900)
def test_every_backup_drill_passes_and_nothing_is_left_running():
    done, report = backup_drill()
    assert done.returncode == 0, report
    drills = [line for line in done.stdout.splitlines() if line.startswith(("PASS", "FAIL"))]
    assert [line.split()[1] for line in drills] == ["1.", "2.", "3."], report
    assert all(line.startswith("PASS") for line in drills), report
    assert all(line.endswith("processes left: 0") for line in drills), report


@pytest.mark.timeout(300)
def test_the_point_in_time_drill_fails_when_it_restores_past_the_drop():
    done, report = backup_drill("1", "--target-after-drop")
    assert done.returncode == 1, report
    assert any(line.startswith("FAIL 1.") for line in done.stdout.splitlines()), report


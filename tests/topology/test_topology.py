"""`make topology-test` run for real: the production topology on this machine (nginx,
two app servers, a primary and its streaming replica, relay and scheduler standbys) and
the failover drills of issue 17. Skipped where nginx or PostgreSQL's binaries are not
installed; it takes about a minute."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
POSTGRES = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_basebackup"))


@pytest.mark.slow
@pytest.mark.skipif(NGINX is None, reason="nginx is not installed (apt-get install nginx)")
@pytest.mark.skipif(not POSTGRES, reason="PostgreSQL's binaries are not installed "
                    "(apt-get install postgresql: initdb, pg_ctl, pg_basebackup)")
@pytest.mark.timeout(600)
def test_every_drill_passes_and_nothing_is_left_running():
    # A state folder and ports of its own, so a topology someone runs by hand is
    # untouched; under var/ (git-ignored), not /tmp/pytest-of-root, which the postgres
    # user the servers run as (when root) cannot enter.
    state = ROOT / "var" / f"topology-test-{os.getpid()}"
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
           "TOPOLOGY_STATE": str(state), "TOPOLOGY_PORT_BASE": "17600"}
    try:
        done = subprocess.run([sys.executable, "-m", "deploy.topology", "test"], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=580)
    finally:
        shutil.rmtree(state, ignore_errors=True)
    report = done.stdout + done.stderr[-3000:]
    assert done.returncode == 0, report
    drills = [line for line in done.stdout.splitlines() if line.startswith(("PASS", "FAIL"))]
    assert len(drills) == 6, report
    assert all(line.startswith("PASS") for line in drills), report
    assert "processes left: 0" in done.stdout, report

"""What the harness starts and stops: the database server, gunicorn, the outbox relay.

Every process is started in its own session and stopped through its process group
(SIGTERM, then SIGKILL after 30 s), whatever way the run ends; the embedded PostgreSQL
is stopped by its pg_ctl (tests/database.py) and its folder deleted.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from tests import database

ROOT = Path(__file__).resolve().parents[1]
GUNICORN_CONF = ROOT / "deploy" / "gunicorn.conf.py"


@contextlib.contextmanager
def database_server() -> Iterator[str]:
    """An owner URL of a server to make benchmark databases on: DATABASE_URL's or
    TEST_DATABASE_URL's server when set, else a throwaway embedded PostgreSQL."""
    configured = os.environ.get("DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    with database.server_url() as url:
        yield url


@contextlib.contextmanager
def process(command: list[str], env: dict[str, str],
            log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``command`` in its own process group, logging to ``log``; stopped on the way out."""
    with log.open("ab") as output:
        child = subprocess.Popen(command, env=env, cwd=ROOT, stdout=output,
                                 stderr=subprocess.STDOUT, start_new_session=True)
        try:
            yield child
        finally:
            _stop(child)


def _stop(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is not None:
        return
    os.killpg(child.pid, signal.SIGTERM)
    try:
        child.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()


@contextlib.contextmanager
def gunicorn(app: str, env: dict[str, str], log: Path, probe: str) -> Iterator[tuple[int, int]]:
    """gunicorn -c deploy/gunicorn.conf.py ``app`` on a free port, once ``probe`` answers
    200; yields (port, master pid)."""
    with socket.socket() as unused:  # a port nobody listens on now
        unused.bind(("127.0.0.1", 0))
        port = int(unused.getsockname()[1])
    command = [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF),
               "--bind", f"127.0.0.1:{port}", app]
    with process(command, env, log) as master:
        _wait_until_answering(master, f"http://127.0.0.1:{port}{probe}", log)
        yield port, master.pid


def _wait_until_answering(child: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise RuntimeError(f"{child.args!r} exited with {child.returncode}; see {log}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 (http only)
            if answer.status == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within 60 s; see {log}")


def relay(env: dict[str, str], log: Path) -> contextlib.AbstractContextManager[
        subprocess.Popen[bytes]]:
    """``flask outbox relay``, as deployed beside gunicorn (vitalbridge/dev/run.py)."""
    return process([sys.executable, "-m", "flask", "--app", "wsgi", "outbox", "relay"],
                   env, log)


def peak_rss_mb(master_pid: int) -> list[float]:
    """VmHWM (peak resident set) of each worker of the gunicorn ``master_pid``, in MB."""
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    peaks = []
    for pid in children:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peaks.append(int(line.split()[1]) / 1024)
    return peaks


def stop_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit, so every ``finally`` above runs as on Ctrl-C."""
    def leave(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, leave)

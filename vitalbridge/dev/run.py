"""``make run``: database, migrations, demo data, then the API, relay and scheduler.

With DATABASE_URL unset it starts an embedded PostgreSQL whose data lives in .pgdata/
(kept between runs). Ctrl-C or SIGTERM stops everything it started, PostgreSQL too.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PGDATA = ROOT / ".pgdata"
PGDATA = Path(os.environ.get("VITALBRIDGE_PGDATA", DEFAULT_PGDATA)).resolve()
DATABASE = "vitalbridge"


def var_folder(pgdata: Path = PGDATA) -> Path:
    """Where this run keeps its demo admin key and its metrics files.

    ``VITALBRIDGE_VAR`` if set; else ``var/`` for the default data folder, and a folder
    beside any other one (``<data folder>.var``, like its ``.pepper``): the key belongs to
    that database, and two runs on one host must not overwrite each other's key or
    empty each other's metrics.
    """
    if os.environ.get("VITALBRIDGE_VAR"):
        return Path(os.environ["VITALBRIDGE_VAR"]).resolve()
    if pgdata == DEFAULT_PGDATA.resolve():
        return ROOT / "var"
    return pgdata.with_name(pgdata.name + ".var")


VAR = var_folder()


def main() -> int:
    """Prepare the database, then supervise gunicorn, the outbox relay and the scheduler."""
    env = dict(os.environ, VITALBRIDGE_VAR=str(VAR))  # the seed writes the key there
    var_lock = _claim_var_folder()  # held while this function runs
    if var_lock is None:
        return 1
    stop_database = _prepare_database(env)
    try:
        _flask(env, "db", "upgrade")
        # Read models a migration just added start empty for the data already there.
        _flask(env, "read-models", "rebuild", "--all", "--if-needed")
        _flask(env, "demo", "seed")
        return _supervise(env)
    finally:
        stop_database()


def _claim_var_folder() -> IO[str] | None:
    """Lock VAR for this run (held until the process exits), or say who holds it."""
    VAR.mkdir(parents=True, exist_ok=True)
    holder = (VAR / "make-run.lock").open("a+")
    try:
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder.seek(0)
        print(f"Another make run (pid {holder.read().strip() or '?'}) uses {VAR} for its admin "
              "key and metrics. Give this one another VITALBRIDGE_PGDATA (or "
              "VITALBRIDGE_VAR).", file=sys.stderr, flush=True)
        holder.close()
        return None
    holder.truncate(0)
    holder.write(f"{os.getpid()}\n")
    holder.flush()
    return holder


def _prepare_database(env: dict[str, str]):  # type: ignore[no-untyped-def]
    if env.get("DATABASE_URL"):
        print("Using DATABASE_URL; no embedded PostgreSQL started.", flush=True)
        return lambda: None
    from vitalbridge.dev import embedded
    from vitalbridge.dev.pepper import development_pepper

    pepper = env.get("API_KEY_PEPPER") or development_pepper(PGDATA)  # before initdb
    env["API_KEY_PEPPER"] = pepper
    server = embedded.start(PGDATA)
    embedded.ensure_database(server, DATABASE)
    env["DATABASE_URL"] = embedded.database_url(server, DATABASE)
    print(f"Embedded PostgreSQL running, data in {PGDATA}", flush=True)
    return server.cleanup


def _flask(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args], env=env,
                   cwd=ROOT, check=True)


def _supervise(env: dict[str, str]) -> int:
    metrics_dir = VAR / "prometheus"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    port = env.get("PORT", "5000")
    children = [
        subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py",
                          "--bind", f"127.0.0.1:{port}", "wsgi:app"], env=env, cwd=ROOT),
        subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "outbox", "relay"],
                         env=env, cwd=ROOT),
        subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "scheduler", "run"],
                         env=env, cwd=ROOT),
    ]
    stopping = False

    def request_stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    print(f"Serving http://127.0.0.1:{port} (Ctrl-C stops everything)", flush=True)
    while not stopping and all(child.poll() is None for child in children):
        time.sleep(0.2)
    if not stopping:
        print("A child process exited; stopping the rest.", file=sys.stderr, flush=True)
    _stop_children(children)
    return 0 if stopping else 1


def _stop_children(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.terminate()
    for child in children:
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()


if __name__ == "__main__":
    sys.exit(main())

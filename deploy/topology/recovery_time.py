"""The recovery time of the benchmark dataset: ``python -m deploy.topology recovery-time
--scale S``.

A primary alone (WAL archived by pgBackRest, as ``make topology`` sets it up), the
migrations, bench/datagen.py's clinic at scale S (1: 1,000,000 patients and 1,000,000
appointments), a full backup; then the restore as the runbook does it
(deploy/restore-database.sh: the backup, replay of the archived WAL, promotion), the
migrations check, and an app server on the restored database answering /health/ready
200. Each phase is timed and printed; everything is stopped at the end.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from sqlalchemy.engine import URL

from deploy.topology import (
    backup,
    postgres,
    processes,
    restored,
    settings_file,
    topology,
    units,
)
from deploy.topology.layout import DATABASE, ROOT, WEB_INSTANCES, Layout

WEB = WEB_INSTANCES[0]


def measure(layout: Layout, scale: float, replay_load: bool = False) -> dict[str, float]:
    """The phases' seconds, the sizes (MB) and the rows restored; the state folder is
    made anew and left stopped. ``replay_load``: the full backup is taken before the
    data is loaded, so the restore replays the whole load from the archived WAL."""
    shutil.rmtree(layout.state, ignore_errors=True)
    layout.state.mkdir(parents=True)
    layout.state.chmod(0o755)
    cluster = postgres.Cluster(layout, postgres.binaries())
    copy: restored.Restored | None = None
    seconds: dict[str, float] = {}
    try:
        env = _primary_with_schema(cluster)
        # The stanza first: until it exists archive-push fails, and the WAL of the
        # load would pile up in pg_wal instead of reaching the repository.
        backup.pgbackrest(layout, "stanza-create")
        backup.pgbackrest(layout, "check")
        if replay_load:
            seconds["full backup"] = _timed(lambda: backup.backup(layout, "full"))
        loaded_from = _wal_bytes(cluster)
        seconds["datagen"] = _timed(lambda: _generate(layout, env["API_KEY_PEPPER"], scale))
        seconds["WAL of the load MB"] = (_wal_bytes(cluster) - loaded_from) / 2**20
        seconds["database MB"] = _database_megabytes(cluster)
        if replay_load:
            backup.pgbackrest(layout, "check")  # the load's last segment archived too
        else:
            seconds["full backup"] = _timed(lambda: backup.backup(layout, "full"))
        seconds["repository MB"] = _folder_megabytes(layout)
        started = time.monotonic()
        copy = restored.restore(layout, cluster, "recovery-time")
        seconds["restore + replay + promotion"] = copy.seconds
        seconds["flask db check"] = _timed(lambda: _db_check(layout))
        seconds["app server ready"] = _timed(lambda: _app_ready(layout))
        seconds["total (restore to ready)"] = time.monotonic() - started
        with copy.connect() as conn:  # what came back, counted after the timing
            for table in ("patients", "appointments"):
                row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
                seconds[f"{table} restored"] = float(row[0]) if row else 0.0
    finally:
        processes.stop(layout, WEB)
        if copy is not None:
            copy.remove()
        postgres.stop_both(cluster)
    return seconds


def _primary_with_schema(cluster: postgres.Cluster) -> dict[str, str]:
    """Primary (archiving on), roles, settings file (no replica), migrations, LEAKPROOF."""
    layout = cluster.layout
    backup.export_cipher_pass(layout)
    backup.write_config(layout)
    postgres.create_primary(cluster, backup.archive_settings(layout))
    passwords = settings_file.new_passwords()
    postgres.provision(cluster, passwords)
    values = settings_file.settings(layout, passwords)
    values.pop("DATABASE_REPLICA_URL")
    settings_file.write(layout.env_file, values)
    env = {**units.BASE_ENVIRONMENT, **values}
    subprocess.run([str(ROOT / ".venv" / "bin" / "flask"), "--app", "wsgi", "db", "upgrade"],
                   env=env, cwd=ROOT, check=True, capture_output=True)
    postgres.mark_trigram_leakproof(cluster)
    return values


def _generate(layout: Layout, pepper: str, scale: float) -> None:
    """bench/datagen.py as the superuser (its bulk INSERT ... SELECT passes row-level
    security only so), on the migrated database: the tables stay the owner role's."""
    superuser = URL.create("postgresql+psycopg", username=postgres.SUPERUSER,
                           database=DATABASE, query={"host": str(layout.pg_socket_dir),
                                                     "port": str(layout.ports.primary)})
    subprocess.run([sys.executable, "-m", "bench.datagen", "--scale", str(scale),
                    "--owner-url", superuser.render_as_string(hide_password=False),
                    "--pepper", pepper], cwd=ROOT, check=True)


def _db_check(layout: Layout) -> None:
    environment = restored.restored_settings(layout)
    subprocess.run([environment["FLASK"], "--app", "wsgi", "db", "check"], env=environment,
                   cwd=ROOT, check=True, capture_output=True)


def _app_ready(layout: Layout) -> None:
    """The web unit on the restored database, until /health/ready answers 200."""
    primary, copy = f"127.0.0.1:{layout.ports.primary}/", f"127.0.0.1:{layout.ports.restored}/"
    moved = {key: value.replace(primary, copy) for key, value in
             units.read_environment_file(layout.env_file).items() if key.startswith("DATABASE_")}
    port = layout.ports.web[0]
    processes.start(topology.unit_service(layout, "vitalbridge-web", WEB, {
        **moved, "GUNICORN_BIND": f"127.0.0.1:{port}"}), layout)
    deadline = time.monotonic() + 300
    while not _answers(f"http://127.0.0.1:{port}/health/ready"):
        if time.monotonic() > deadline:
            raise TimeoutError("the app server on the restored database never got ready")
        time.sleep(0.1)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _database_megabytes(cluster: postgres.Cluster) -> float:
    with cluster.superuser(cluster.layout.ports.primary, DATABASE) as conn:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    return float(row[0]) / 2**20 if row else 0.0


def _wal_bytes(cluster: postgres.Cluster) -> int:
    with cluster.superuser(cluster.layout.ports.primary) as conn:
        row = conn.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn").fetchone()
    return int(row[0]) if row else 0


def _folder_megabytes(layout: Layout) -> float:
    folder = backup.repository(layout)
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20


def _timed(step: Callable[[], object]) -> float:
    started = time.monotonic()
    step()
    return time.monotonic() - started

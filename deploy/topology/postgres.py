"""A PostgreSQL primary and its streaming replica, from the machine's own binaries.

The primary is made with initdb, the replica with ``pg_basebackup -R`` of it (the way
the README's deployment section makes one). Both listen on 127.0.0.1 (passwords,
scram-sha-256) and on a Unix socket in the state folder (the superuser, trust, for the
provisioning steps and pg_basebackup). PostgreSQL refuses to run as root: as root the
servers run as the OS user ``postgres`` of the Debian package (or TOPOLOGY_PG_USER).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from deploy.topology.layout import APP_ROLE, DATABASE, OWNER, RELAY_ROLE, Layout

NEEDED = ("initdb", "pg_ctl", "pg_basebackup", "postgres")
SUPERUSER = "postgres"
# pg_trgm's similarity operators, LEAKPROOF so patient search can use its index under
# forced row-level security (README, PostgreSQL requirements; only a superuser may).
LEAKPROOF_FUNCTIONS = ("similarity_op(text, text)", "word_similarity_op(text, text)",
                       "word_similarity_commutator_op(text, text)",
                       "strict_word_similarity_op(text, text)",
                       "strict_word_similarity_commutator_op(text, text)")


def binaries() -> Path:
    """The newest /usr/lib/postgresql/*/bin with every program needed (or PG_BIN)."""
    candidates = [Path(os.environ["PG_BIN"])] if os.environ.get("PG_BIN") else []
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for folder in candidates:
        if all((folder / name).is_file() for name in NEEDED):
            return folder
    raise RuntimeError("no PostgreSQL binaries: apt-get install postgresql (or set PG_BIN)")


def server_user() -> str | None:
    """The OS user the servers run as when we are root (None: as ourselves)."""
    if os.geteuid() != 0:
        return None
    name = os.environ.get("TOPOLOGY_PG_USER", "postgres")
    pwd.getpwnam(name)  # KeyError: no such user; install postgresql or set TOPOLOGY_PG_USER
    return name


@dataclass(frozen=True)
class Cluster:
    """The pair's programs, folders and ports."""

    layout: Layout
    bin: Path

    def run(self, program: str, *args: str, timeout: float = 120) -> None:
        """One of PostgreSQL's programs, as the server user when we are root."""
        command = [str(self.bin / program), *args]
        user = server_user()
        if user is not None:
            command = ["su", user, "-s", "/bin/sh", "-c", shlex.join(command)]
        subprocess.run(command, check=True, capture_output=True, timeout=timeout)

    def superuser(self, port: int, database: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(host=str(self.layout.pg_socket_dir), port=port, user=SUPERUSER,
                               dbname=database, autocommit=True)

    def start(self, data: Path, port: int) -> None:
        self.run("pg_ctl", "-D", str(data), "-o", self.server_options(port), "-l",
                 f"{data}.log", "-w", "-t", "60", "start")

    def server_options(self, port: int) -> str:
        """The servers' settings given on pg_ctl's command line (a restored copy needs
        the same max_connections as the primary whose WAL it replays)."""
        return (f"-c port={port} -c listen_addresses=127.0.0.1 "
                f"-c unix_socket_directories={self.layout.pg_socket_dir} "
                "-c wal_level=replica -c max_wal_senders=4 -c hot_standby=on "
                "-c max_connections=200 -c shared_buffers=64MB")

    def stop(self, data: Path) -> None:
        """``pg_ctl -m fast stop`` when it runs (a missing folder is already stopped)."""
        if (data / "postmaster.pid").exists():
            self.run("pg_ctl", "-D", str(data), "-m", "fast", "-w", "-t", "60", "stop")


def create_primary(cluster: Cluster, settings: dict[str, str] | None = None) -> None:
    """initdb and start the primary; ``settings`` are added to its postgresql.conf (WAL
    archiving, when pgBackRest is installed)."""
    folder = cluster.layout.pg_socket_dir
    folder.mkdir(parents=True, exist_ok=True)
    _give_to_server_user(folder)
    cluster.run("initdb", "-D", str(cluster.layout.primary_data), "-U", SUPERUSER,
                "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8",
                "--locale=C.UTF-8", "--no-sync")
    if settings:
        with (cluster.layout.primary_data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
    cluster.start(cluster.layout.primary_data, cluster.layout.ports.primary)


def create_replica(cluster: Cluster) -> None:
    """``pg_basebackup -R`` of the primary, started as a hot standby."""
    cluster.run("pg_basebackup", "-h", str(cluster.layout.pg_socket_dir), "-p",
                str(cluster.layout.ports.primary), "-U", SUPERUSER, "-D",
                str(cluster.layout.replica_data), "-R", "-X", "stream", "-c", "fast",
                "--no-sync")
    cluster.start(cluster.layout.replica_data, cluster.layout.ports.replica)


def provision(cluster: Cluster, passwords: dict[str, str]) -> None:
    """The roles and database as README's Database roles section creates them: an owner
    of the database (CREATEROLE, for the app role's timeouts the migrations set), and
    the app and relay roles with passwords, no superuser, no BYPASSRLS."""
    with cluster.superuser(cluster.layout.ports.primary) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEROLE PASSWORD {}").format(
            sql.Identifier(OWNER), sql.Literal(passwords[OWNER])))
        for role in (APP_ROLE, RELAY_ROLE):
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} NOSUPERUSER NOBYPASSRLS"
                                 ).format(sql.Identifier(role), sql.Literal(passwords[role])))
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
            sql.Identifier(DATABASE), sql.Identifier(OWNER)))


def mark_trigram_leakproof(cluster: Cluster) -> None:
    """The superuser's step after the migrations (README, PostgreSQL requirements)."""
    with cluster.superuser(cluster.layout.ports.primary, DATABASE) as conn:
        for function in LEAKPROOF_FUNCTIONS:
            conn.execute(f"ALTER FUNCTION public.{function} LEAKPROOF")


def stop_both(cluster: Cluster) -> None:
    """Stop the replica, then the primary (each ``pg_ctl -m fast stop``)."""
    for data in (cluster.layout.replica_data, cluster.layout.primary_data):
        with contextlib.suppress(subprocess.SubprocessError):
            cluster.stop(data)


def _give_to_server_user(folder: Path) -> None:
    user = server_user()
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(folder, entry.pw_uid, entry.pw_gid)

"""The primary's backups with pgBackRest: continuous WAL archiving, full, differential and
incremental backups, checks, and restores into fresh data directories.

The repository (``backup/repo`` in the state folder; another host or an object store on
a server) is encrypted (aes-256-cbc) with a passphrase pgBackRest reads from the
environment, PGBACKREST_REPO1_CIPHER_PASS, never from its configuration file: the
topology takes the caller's, or makes one and keeps it beside the settings file, as a
server keeps it in its secrets store. PostgreSQL runs ``archive-push`` itself, so the
primary is started with the passphrase in its environment.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shlex
import shutil
import subprocess
from pathlib import Path

from deploy.topology.layout import Layout
from deploy.topology.postgres import SUPERUSER, server_user

STANZA = "vitalbridge"
CIPHER_ENV = "PGBACKREST_REPO1_CIPHER_PASS"
# PostgreSQL's archive_timeout: an idle clinic still ships its WAL at least this often,
# which bounds what a lost disk loses. TOPOLOGY_ARCHIVE_TIMEOUT shortens it for drills.
ARCHIVE_TIMEOUT_ENV = "TOPOLOGY_ARCHIVE_TIMEOUT"
DEFAULT_ARCHIVE_TIMEOUT = 60


def binary() -> str | None:
    return shutil.which("pgbackrest") or ("/usr/bin/pgbackrest"
                                          if Path("/usr/bin/pgbackrest").exists() else None)


def archive_timeout() -> int:
    return int(os.environ.get(ARCHIVE_TIMEOUT_ENV, DEFAULT_ARCHIVE_TIMEOUT))


def config_file(layout: Layout) -> Path:
    return layout.backup / "pgbackrest.conf"


def repository(layout: Layout) -> Path:
    return layout.backup / "repo"


def _cipher_file(layout: Layout) -> Path:
    return layout.etc / "pgbackrest-cipher-pass"


def export_cipher_pass(layout: Layout) -> None:
    """Put the repository's passphrase in this process's environment (every pgBackRest
    command and PostgreSQL server started from here inherits it): the caller's if set,
    else the one kept for this state folder, else a new one, kept there (mode 0600)."""
    kept = _cipher_file(layout)
    if not os.environ.get(CIPHER_ENV):
        if not kept.exists():
            kept.parent.mkdir(parents=True, exist_ok=True)
            kept.touch(mode=0o600)
            kept.write_text(secrets.token_urlsafe(48) + "\n")
        os.environ[CIPHER_ENV] = kept.read_text().strip()


def archive_settings(layout: Layout) -> dict[str, str]:
    """The primary's postgresql.conf lines for continuous archiving.

    track_commit_timestamp lets the drills read when each booking committed, the clock
    a point-in-time recovery stops by.
    """
    push = shlex.join([binary() or "pgbackrest", f"--config={config_file(layout)}",
                       f"--stanza={STANZA}", "archive-push"]) + " %p"
    return {"archive_mode": "on", "archive_command": _quoted(push),
            "archive_timeout": str(archive_timeout()), "track_commit_timestamp": "on"}


def write_config(layout: Layout) -> None:
    """pgbackrest.conf for the primary, and the folders pgBackRest writes (the server
    user's, since PostgreSQL runs archive-push as that user)."""
    for folder in ("repo", "log", "lock", "spool"):
        (layout.backup / folder).mkdir(parents=True, exist_ok=True)
    config_file(layout).write_text(render_config(layout))
    _give_tree_to_server_user(layout.backup)


def render_config(layout: Layout) -> str:
    """Two full backups are kept (with the WAL to recover from the older one), and two
    differential backups per full; incremental ones go with the backup they build on."""
    return "\n".join([
        "[global]",
        f"repo1-path={repository(layout)}",
        "repo1-cipher-type=aes-256-cbc",
        "repo1-retention-full=2",
        "repo1-retention-diff=2",
        # lz4: the cheapest compression on CPU (the machine serves bookings meanwhile)
        "compress-type=lz4",
        "process-max=2",
        # a backup asks for an immediate checkpoint instead of waiting for the next one
        "start-fast=y",
        f"log-path={layout.backup / 'log'}",
        f"lock-path={layout.backup / 'lock'}",
        f"spool-path={layout.backup / 'spool'}",
        "log-level-console=warn",
        "log-level-file=info",
        "",
        f"[{STANZA}]",
        f"pg1-path={layout.primary_data}",
        f"pg1-port={layout.ports.primary}",
        f"pg1-socket-path={layout.pg_socket_dir}",
        f"pg1-user={SUPERUSER}",
        "",
    ])


def pgbackrest(layout: Layout, *args: str, timeout: float = 600) -> str:
    """A pgBackRest command as the server user; its standard output."""
    command = [binary() or "pgbackrest", f"--config={config_file(layout)}",
               f"--stanza={STANZA}", *args]
    user = server_user()
    if user is not None:
        command = ["su", user, "-s", "/bin/sh", "-c", shlex.join(command)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"pgbackrest {' '.join(args)} exited {done.returncode}: "
                           f"{(done.stderr or done.stdout).strip()[-2000:]}")
    return done.stdout


def set_up(layout: Layout) -> None:
    """Create the stanza, check that WAL reaches the repository, take the first full
    backup (differential and incremental backups build on it)."""
    pgbackrest(layout, "stanza-create")
    pgbackrest(layout, "check")
    backup(layout, "full")


def backup(layout: Layout, kind: str) -> str:
    """A backup of ``kind`` (full, diff, incr); the label of the backup set it made."""
    pgbackrest(layout, "backup", f"--type={kind}")
    return latest_label(layout)


def latest_label(layout: Layout) -> str:
    info = json.loads(pgbackrest(layout, "info", "--output=json"))
    return str(info[0]["backup"][-1]["label"])


def restore(layout: Layout, data: Path, *options: str) -> None:
    """``pgbackrest restore`` into the fresh directory ``data`` (made here, the server
    user's): the latest backup and all archived WAL unless ``options`` say otherwise
    (``--type=time --target=...``, ``--type=immediate --set=...``). Archiving stays off
    on the copy: it must not push a second history into the primary's archive."""
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(mode=0o700, parents=True)
    _give_tree_to_server_user(data)
    target = ["--target-action=promote"] if any(o.startswith("--type=") for o in options) else []
    pgbackrest(layout, "restore", f"--pg1-path={data}", "--archive-mode=off", *target,
               *options, timeout=3600)


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _give_tree_to_server_user(top: Path) -> None:
    user = server_user()
    if user is None:
        return
    entry = pwd.getpwnam(user)
    for folder, _, files in os.walk(top):
        os.chown(folder, entry.pw_uid, entry.pw_gid)
        for name in files:
            os.chown(Path(folder) / name, entry.pw_uid, entry.pw_gid)

"""The API-key pepper of a development database made by ``make run``.

Outside production the app would otherwise fall back to a constant that is published in
this repository: every demo key ever made with it can be checked against a leaked table.
``make run`` instead gives each embedded data folder a random pepper of its own, kept in a
file beside it (``.pgdata.pepper``), so the keys made there keep working between runs.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from config.settings import DEV_ONLY_PEPPER


def pepper_file(pgdata: Path) -> Path:
    """Where the pepper of the data folder ``pgdata`` is kept."""
    return pgdata.with_name(pgdata.name + ".pepper")


def development_pepper(pgdata: Path) -> str:
    """The pepper of ``pgdata``: read from its file, or made now for a new data folder.

    A data folder made before peppers were kept holds keys hashed with the published
    constant; it keeps that constant (written to the file, and said) so its keys still
    authenticate. Delete the folder and its file for a fresh database with a random one.
    """
    path = pepper_file(pgdata)
    if path.exists():
        return path.read_text().strip()
    existing = (pgdata / "PG_VERSION").exists()
    pepper = DEV_ONLY_PEPPER if existing else secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Readable by its owner only from the moment it exists.
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
        file.write(pepper + "\n")
    if existing:
        print(f"WARNING: {pgdata} was made with the published development pepper; it keeps "
              f"it so its keys still work. Remove {pgdata} and {path} for a random one.",
              flush=True)
    return pepper

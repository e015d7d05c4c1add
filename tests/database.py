"""A throwaway PostgreSQL database for the suite: embedded by default, or TEST_DATABASE_URL."""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from vitalbridge.dev import embedded


@contextlib.contextmanager
def server_url() -> Iterator[str]:
    """An owner (superuser) URL of a server the suite may create databases on."""
    configured = os.environ.get("TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    with tempfile.TemporaryDirectory(prefix="vitalbridge-test-") as folder:
        server = embedded.start(Path(folder) / "pgdata", throwaway=True)
        try:
            yield embedded.database_url(server, "postgres")
        finally:
            server.cleanup()


@contextlib.contextmanager
def fresh_database(owner_url: str) -> Iterator[str]:
    """Create a uniquely named database, yield its owner URL, drop it afterwards."""
    name = f"vitalbridge_test_{uuid.uuid4().hex[:10]}"
    admin = _libpq(owner_url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_url(owner_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def libpq_url(url: str) -> str:
    """The same URL in the form psycopg.connect accepts."""
    return _libpq(url)


@contextlib.contextmanager
def migrated_database(server: str) -> Iterator[str]:
    """A fresh database on ``server``, migrated to head; yields its owner URL."""
    from vitalbridge import create_app

    with fresh_database(server) as url:
        app = create_app(database_url=url, env="testing")
        with app.app_context():
            app.extensions["alembic"].upgrade()
        app.extensions["vitalbridge"].db.dispose()
        yield url

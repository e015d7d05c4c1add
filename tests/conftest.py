"""Fixtures shared by every test: a migrated throwaway database, apps, clients, keys."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, event, text

from tests import database
from tests.factories import PlatformKeyFactory, TenantFactory
from vitalbridge import create_app
from vitalbridge.http.pagination import seal_cursor


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """Owner URL of the PostgreSQL server the suite makes its databases on."""
    with database.server_url() as url:
        yield url


@pytest.fixture(scope="session")
def owner_url(server_url: str) -> Iterator[str]:
    """Owner URL of a migrated database that lives for the whole session."""
    with database.migrated_database(server_url) as url:
        yield url


@pytest.fixture(scope="session")
def app(owner_url: str) -> Iterator[Flask]:
    """The app under test, connected as the app role (row-level security applies)."""
    application = create_app(database_url=owner_url, env="testing")
    yield application
    application.extensions["vitalbridge"].db.dispose()


@pytest.fixture(scope="session")
def owner_engine(owner_url: str):  # type: ignore[no-untyped-def]
    """An engine as the owner: for inspecting and cleaning tables behind RLS."""
    engine = create_engine(owner_url)
    yield engine
    engine.dispose()


@pytest.fixture(autouse=True)
def _clean_tables(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test starts from empty tables (commands commit, so rollback cannot isolate)."""
    uses_database = {"owner_url", "app"} & set(request.fixturenames)
    engine = request.getfixturevalue("owner_engine") if uses_database else None
    yield
    if engine is None:
        return
    with engine.begin() as conn:
        tables = conn.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'alembic_version'")).scalars().all()
        conn.execute(text(f"TRUNCATE {', '.join(tables)}"))


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of the app."""
    return app.test_client()


@pytest.fixture
def platform_key(app: Flask) -> str:
    """A platform_admin API key."""
    with app.app_context():
        return PlatformKeyFactory().key


@pytest.fixture
def tenant(app: Flask):  # type: ignore[no-untyped-def]
    """A tenant with its first admin key."""
    with app.app_context():
        return TenantFactory()


@pytest.fixture
def other_tenant(app: Flask):  # type: ignore[no-untyped-def]
    """A second tenant, to prove isolation."""
    with app.app_context():
        return TenantFactory()


def bearer(key: str) -> dict[str, str]:
    """The Authorization header for ``key``."""
    return {"Authorization": f"Bearer {key}"}


def forged_cursor(app: Flask, sort_key: object) -> str:
    """A cursor sealed with the app's own key around ``sort_key`` (JSON of it, or raw
    bytes): what someone holding the key could forge, to test the checks behind it."""
    raw = sort_key if isinstance(sort_key, bytes) else json.dumps(sort_key).encode()
    with app.app_context():
        return seal_cursor(raw)


@contextlib.contextmanager
def data_reads(app: Flask) -> Iterator[list[str]]:
    """The SELECTs the app's engine runs inside the block (not its tenant-scope setup)."""
    statements: list[str] = []
    engine = app.extensions["vitalbridge"].db.engine

    def record(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    reads: list[str] = []
    try:
        yield reads
    finally:
        event.remove(engine, "before_cursor_execute", record)
        reads += [s for s in statements if s.lstrip().upper().startswith(("SELECT", "WITH"))
                  and "set_config" not in s]

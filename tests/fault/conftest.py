"""A database of their own for the fault tests (they add a table the catalog test would
not expect), and helpers to run relay processes against it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from config.settings import load_settings
from tests import database

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def fault_db(server_url: str) -> Iterator[str]:
    """A freshly migrated database with a ``fault_effects`` table the app role may write."""
    with database.migrated_database(server_url) as url:
        app_role = load_settings(database_url=url).database_app_role
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE fault_effects (n bigserial PRIMARY KEY, "
                              "event_id uuid NOT NULL, aggregate_id uuid NOT NULL, "
                              "seq bigint NOT NULL)"))
            conn.execute(text(f'GRANT INSERT, SELECT ON fault_effects TO "{app_role}"'))
            conn.execute(text(f'GRANT USAGE ON SEQUENCE fault_effects_n_seq TO "{app_role}"'))
        engine.dispose()
        yield url


@pytest.fixture
def fault_engine(fault_db: str) -> Iterator[Engine]:
    """Owner engine on the fault database, emptied after each test."""
    engine = create_engine(fault_db)
    yield engine
    with engine.begin() as conn:
        tables = conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname='public' "
                                   "AND tablename <> 'alembic_version'")).scalars().all()
        conn.execute(text(f"TRUNCATE {', '.join(tables)}"))
    engine.dispose()


def start_relay(url: str) -> subprocess.Popen[bytes]:
    """A recording relay process against ``url``."""
    env = {**os.environ, "DATABASE_URL": url, "VITALBRIDGE_ENV": "testing"}
    return subprocess.Popen([sys.executable, "-m", "tests.fault.recording_relay"], cwd=ROOT,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

"""Timeouts on the app role (hardening, item 3): set by the migrations from the settings,
holding for every connection of the role, and a request that runs into one answers 503.

A database of its own, migrated with timeouts short enough to run into in a test.
"""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import create_engine, text

from tests import database
from tests.factories import TenantFactory
from tests.patient_factories import PatientFactory
from tests.read_model_helpers import assert_read_models_match, catch_up, rebuild
from vitalbridge import create_app
from vitalbridge.services import services

SHORT = {"database_statement_timeout_ms": 300, "database_lock_timeout_ms": 200,
         "database_idle_in_transaction_timeout_ms": 5000}


@pytest.fixture(scope="module")
def timed_app(server_url):
    with database.fresh_database(server_url) as url:
        app = create_app(database_url=url, env="testing", **SHORT)
        with app.app_context():
            app.extensions["alembic"].upgrade()
        app.add_url_rule("/test/slow", view_func=_slow_statement)
        app.add_url_rule("/test/locked", view_func=_locked_row)
        yield app
        app.extensions["vitalbridge"].db.dispose()


def _slow_statement():
    with services().db.sessions() as session, session.begin():
        session.execute(text("SELECT pg_sleep(2)"))
    return "finished"


def _locked_row():
    with services().db.sessions() as session, session.begin():
        session.execute(text("SELECT count(*) FROM alembic_version"))
    return "finished"


def test_every_connection_of_the_app_role_has_the_timeouts(timed_app):
    with timed_app.extensions["vitalbridge"].db.engine.connect() as conn:
        shown = {name: conn.scalar(text(f"SHOW {name}")) for name in (
            "statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout")}
    assert shown == {"statement_timeout": "300ms", "lock_timeout": "200ms",
                     "idle_in_transaction_session_timeout": "5s"}


def test_a_statement_that_runs_out_answers_503(timed_app):
    response = timed_app.test_client().get("/test/slow")
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert response.json["type"].endswith("database-timeout")
    assert response.headers["Retry-After"] == "2"


def test_a_lock_wait_that_runs_out_answers_503(timed_app):
    owner = create_engine(timed_app.config["SETTINGS"].database_url)
    try:
        with owner.connect() as holder, holder.begin(), ThreadPoolExecutor(1) as pool:
            holder.execute(text("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE"))
            asked = pool.submit(timed_app.test_client().get, "/test/locked")
            # Without a lock_timeout the request would wait for as long as the lock is
            # held: fail after 10 s instead (leaving the block releases the lock).
            response = asked.result(timeout=10)
    finally:
        owner.dispose()
    assert response.status_code == 503
    assert response.json["type"].endswith("database-timeout")


def test_the_owner_is_not_bounded(timed_app):
    """Only the app role: migrations and the owner's maintenance keep the defaults."""
    owner = create_engine(timed_app.config["SETTINGS"].database_url)
    try:
        with owner.connect() as conn:
            assert conn.scalar(text("SHOW statement_timeout")) == "0"
    finally:
        owner.dispose()


# What must wait through a lock longer than the role's lock_timeout -------------------


def _checkpoints_locked_for(app, tenant_id, seconds: float):
    """Hold the tenant's read-model checkpoints (as a rebuild's swap or a relay's apply
    would) for ``seconds`` in another thread; returns the thread's future."""
    owner = create_engine(app.config["SETTINGS"].database_url)
    held = threading.Event()

    def hold() -> None:
        try:
            with owner.connect() as conn, conn.begin():
                conn.execute(text("SELECT 1 FROM read_model_checkpoints "
                                  "WHERE tenant_id = :t FOR UPDATE"), {"t": tenant_id})
                held.set()
                time.sleep(seconds)
        finally:
            owner.dispose()

    pool = ThreadPoolExecutor(1)
    future = pool.submit(hold)
    pool.shutdown(wait=False)
    assert held.wait(5)
    return future


def test_a_rebuild_waits_for_a_checkpoint_lock_past_the_lock_timeout(timed_app):
    with timed_app.app_context():
        tenant = TenantFactory()
    catch_up(timed_app)
    holder = _checkpoints_locked_for(timed_app, tenant.id, 0.8)  # 4 x the lock_timeout
    rebuild(timed_app, tenant.id, "patient_summaries")
    holder.result(timeout=5)
    assert_read_models_match(timed_app, tenant.id)


def test_the_relays_apply_waits_for_a_checkpoint_lock_past_the_lock_timeout(timed_app):
    with timed_app.app_context():
        tenant = TenantFactory()
        catch_up(timed_app)
        PatientFactory(tenant_id=tenant.id)
    holder = _checkpoints_locked_for(timed_app, tenant.id, 0.8)
    catch_up(timed_app)
    holder.result(timeout=5)
    owner = create_engine(timed_app.config["SETTINGS"].database_url)
    try:
        with owner.connect() as conn:
            assert conn.scalar(text("SELECT count(*) FROM parked_deliveries")) == 0
    finally:
        owner.dispose()
    assert_read_models_match(timed_app, tenant.id)

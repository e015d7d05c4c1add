"""Timeouts on the app role (hardening, item 3): set by the migrations from the settings,
holding for every connection of the role, and a request that runs into one answers 503.

A database of its own, migrated with timeouts short enough to run into in a test.
"""

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import create_engine, text

from tests import database
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

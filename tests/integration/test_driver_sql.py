"""Statements through the driver (vitalbridge/driver_sql.py) behave as the session's own:
the same transaction, and SQLAlchemy's exceptions for the database's refusals."""

import uuid

import psycopg
import pytest
import sqlalchemy.exc
from sqlalchemy import bindparam, event, literal, select, text

from vitalbridge.db import set_tenant
from vitalbridge.driver_sql import DriverStatement

NEW_TENANT = DriverStatement(
    "INSERT INTO tenants (id, name, slug, timezone) VALUES (%(id)s, 'Clinic', %(slug)s, 'UTC')")
TENANT_NAME = DriverStatement("SELECT name, slug FROM tenants WHERE id = %(id)s")


@pytest.fixture
def session(app):
    with app.extensions["vitalbridge"].db.sessions() as session, session.begin():
        yield session


def _tenants(owner_engine):
    with owner_engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM tenants")).scalar_one()


def test_it_runs_inside_the_sessions_transaction(session, owner_engine):
    tenant_id = uuid.uuid4()
    NEW_TENANT.run(session, {"id": tenant_id, "slug": "driver"})
    set_tenant(session, tenant_id)  # tenants are row-level secured by app.tenant_id
    row = TENANT_NAME.first(session, {"id": tenant_id})
    assert (row.name, row.slug) == ("Clinic", "driver")
    assert session.execute(text("SELECT slug FROM tenants WHERE id = :id"),
                           {"id": tenant_id}).scalar_one() == "driver"
    assert _tenants(owner_engine) == 0  # not committed: another connection sees nothing
    session.rollback()
    assert _tenants(owner_engine) == 0


def test_a_core_statement_keeps_its_literals(session):
    statement = DriverStatement.of(select(literal("kept").label("word"),
                                          (bindparam("n") + 1).label("next")))
    assert statement.first(session, {"n": 41}) == ("kept", 42)
    assert statement.rows(session, {"n": 1}, named=False) == [("kept", 2)]


def test_a_constraint_violation_is_an_integrity_error_naming_it_without_parameters(session):
    NEW_TENANT.run(session, {"id": uuid.uuid4(), "slug": "taken"})
    second = uuid.uuid4()
    with pytest.raises(sqlalchemy.exc.IntegrityError) as refused:
        NEW_TENANT.run(session, {"id": second, "slug": "taken"})
    assert refused.value.orig.diag.constraint_name == "uq_tenants_slug"
    assert isinstance(refused.value.__cause__, psycopg.errors.UniqueViolation)
    # The statement's parameters are not in the text, as on the app's engines (the
    # server's own detail may quote the key; logs keep class and SQLSTATE only).
    assert str(second) not in str(refused.value)


def test_a_timeout_is_an_operational_error_caused_by_the_cancel(session):
    session.execute(text("SET LOCAL statement_timeout = '50ms'"))
    with pytest.raises(sqlalchemy.exc.OperationalError) as cancelled:
        DriverStatement("SELECT pg_sleep(2)").run(session)
    assert isinstance(cancelled.value.__cause__, psycopg.errors.QueryCanceled)
    assert not cancelled.value.connection_invalidated


def test_a_lost_connection_is_invalidated_and_the_pool_goes_on(app, owner_engine):
    sessions = app.extensions["vitalbridge"].db.sessions
    backend = DriverStatement("SELECT pg_backend_pid()")
    with sessions() as session:
        session.begin()
        pid = backend.scalar(session)
        with owner_engine.connect() as owner:
            owner.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(sqlalchemy.exc.OperationalError) as lost:
            backend.scalar(session)
        assert lost.value.connection_invalidated
        session.rollback()
    with sessions() as session, session.begin():
        assert backend.scalar(session) != pid


def test_the_engines_cursor_listeners_see_it(app, session):
    seen = []
    engine = app.extensions["vitalbridge"].db.engine

    def record(_conn, _cursor, statement, *_rest):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        DriverStatement("SELECT 1 AS one").scalar(session)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert seen == ["SELECT 1 AS one"]

"""No patient data in the text of a failure (hardening, item 2).

A database error's text is what logs, a CLI and the parked deliveries would show: it
must not carry a statement's parameters, and a relay failure is kept by class alone.
"""

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from vitalbridge.db import owner_engine
from vitalbridge.messaging.cli import build_relay
from vitalbridge.messaging.errors import failure_summary

CANARY = "Canary-Bartholomew-1957"
FAILING = text("SELECT 1 / 0 WHERE CAST(:name AS text) IS NOT NULL")


def _engines(app):
    with app.app_context():
        relay = build_relay().engine
    return {"app": app.extensions["vitalbridge"].db.engine, "relay": relay,
            "owner": owner_engine(app.config["SETTINGS"])}


@pytest.mark.parametrize("role", ["app", "relay", "owner"])
def test_a_failed_statement_does_not_show_its_parameters(app, role):
    engine = _engines(app)[role]
    try:
        with pytest.raises(DBAPIError) as raised, engine.connect() as conn:
            conn.execute(FAILING, {"name": CANARY})
    finally:
        engine.dispose()
    assert "division by zero" in str(raised.value)
    assert CANARY not in str(raised.value)


def test_a_failure_is_summarised_by_class_and_sqlstate_only(app):
    violation = IntegrityError("INSERT ...", {"mrn": CANARY}, _DriverError(CANARY))
    assert failure_summary(violation) == "IntegrityError (SQLSTATE 23505)"
    assert failure_summary(ValueError(f"bad name {CANARY}")) == "ValueError"


class _DriverError(Exception):
    sqlstate = "23505"

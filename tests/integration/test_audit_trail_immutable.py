"""The audit trail cannot be rewritten by the services' roles (hardening, item 1).

Two protections, each tested alone: the app and relay roles hold no UPDATE, DELETE or
TRUNCATE grant on audit_log, and a trigger refuses those statements from any role but
the owner even if such a grant were made again.
"""

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import ProgrammingError

from tests.factories import ApiKeyFactory

REWRITES = {
    "update": "UPDATE audit_log SET outcome = 'succeeded'",
    "delete": "DELETE FROM audit_log",
    "truncate": "TRUNCATE audit_log",
}
ROLES = ("database_app_role", "database_relay_role")


@pytest.fixture
def audited(app, tenant):
    """A tenant with audit rows (its creation, and a key made by command)."""
    with app.app_context():
        ApiKeyFactory(tenant_id=tenant.id)
    return tenant


def _as_role(conn, role: str, tenant_id) -> None:
    conn.execute(text(f'SET LOCAL ROLE "{role}"'))
    conn.execute(text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(tenant_id)})


def _audit_rows(owner_engine) -> int:
    with owner_engine.connect() as conn:
        return conn.scalar(text("SELECT count(*) FROM audit_log"))


@pytest.mark.parametrize("role_setting", ROLES)
def test_the_service_roles_hold_no_grant_to_rewrite_the_trail(app, owner_engine, role_setting):
    role = getattr(app.config["SETTINGS"], role_setting)
    with owner_engine.connect() as conn:
        held = {privilege for privilege in ("UPDATE", "DELETE", "TRUNCATE")
                if conn.scalar(text("SELECT has_table_privilege(:r, 'audit_log', :p)"),
                               {"r": role, "p": privilege})}
        may_add = conn.scalar(text("SELECT has_table_privilege(:r, 'audit_log', 'INSERT')"),
                              {"r": app.config["SETTINGS"].database_app_role})
    assert held == set()
    assert may_add


@pytest.mark.parametrize("statement", sorted(REWRITES))
def test_the_app_role_is_refused_a_rewrite(app, audited, owner_engine, statement):
    before = _audit_rows(owner_engine)
    engine = create_engine(app.config["SETTINGS"].app_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("SELECT set_config('app.tenant_id', :t, true)"),
                         {"t": str(audited.id)})
            with pytest.raises(ProgrammingError, match="permission denied"):
                conn.execute(text(REWRITES[statement]))
    finally:
        engine.dispose()
    assert _audit_rows(owner_engine) == before > 0


@pytest.mark.parametrize("statement", sorted(REWRITES))
def test_the_trigger_refuses_a_rewrite_even_with_the_grant(app, audited, owner_engine,
                                                           statement):
    """Grant the app role the rewrite inside a transaction that is rolled back: the
    trigger still refuses it."""
    role = app.config["SETTINGS"].database_app_role
    before = _audit_rows(owner_engine)
    with owner_engine.connect() as conn:
        granted = conn.begin()
        try:
            conn.execute(text(f'GRANT UPDATE, DELETE, TRUNCATE ON audit_log TO "{role}"'))
            _as_role(conn, role, audited.id)
            with pytest.raises(ProgrammingError, match="append-only"):
                conn.execute(text(REWRITES[statement]))
        finally:
            granted.rollback()
    assert _audit_rows(owner_engine) == before > 0

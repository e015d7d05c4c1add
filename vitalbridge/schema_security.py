"""Roles, grants and row-level security, applied by migrations (as the owner role).

The app role owns nothing, is no superuser and has no BYPASSRLS, so every policy
below applies to it. Policies read ``app.tenant_id`` (set per transaction); with no
tenant set, ``NULLIF(.., '')`` yields NULL and no row matches: fail closed.
"""

from __future__ import annotations

from alembic import op
from flask import current_app

TENANT_PREDICATE = "tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid"


def _roles() -> tuple[str, str]:
    settings = current_app.config["SETTINGS"]
    return settings.database_app_role, settings.database_relay_role


def ensure_roles() -> None:
    """Create the app and relay roles if missing, and grant them what they need."""
    app_role, relay_role = _roles()
    for role in (app_role, relay_role):
        op.execute(f"""
            DO $$ BEGIN
              IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
                CREATE ROLE "{role}" LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
              END IF;
            END $$""")
        op.execute(f'GRANT USAGE ON SCHEMA public TO "{role}"')
    op.execute(f'ALTER DEFAULT PRIVILEGES IN SCHEMA public '
               f'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO "{app_role}"')
    op.execute(f'ALTER DEFAULT PRIVILEGES IN SCHEMA public '
               f'GRANT USAGE, SELECT ON SEQUENCES TO "{app_role}"')


def grant_app(*tables: str) -> None:
    """Let the app role read and write ``tables`` (created before default privileges)."""
    app_role, _ = _roles()
    for table in tables:
        op.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON "{table}" TO "{app_role}"')


def grant_read_only(table: str) -> None:
    """Let the app role read ``table`` only (e.g. alembic_version for readiness)."""
    app_role, _ = _roles()
    op.execute(f'GRANT SELECT ON "{table}" TO "{app_role}"')


def tenant_isolation(table: str) -> None:
    """Enable and FORCE row-level security on a tenant-scoped table."""
    op.execute(f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY')
    op.execute(f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY')
    op.execute(f'CREATE POLICY tenant_isolation ON "{table}" '
               f"USING ({TENANT_PREDICATE}) WITH CHECK ({TENANT_PREDICATE})")


def relay_access(table: str, privileges: str = "SELECT, UPDATE") -> None:
    """Let the relay role see every tenant's rows of ``table`` (it delivers them all)."""
    _, relay_role = _roles()
    op.execute(f'GRANT {privileges} ON "{table}" TO "{relay_role}"')
    op.execute(f'CREATE POLICY relay_all_tenants ON "{table}" TO "{relay_role}" USING (true)')


def revoke_relay_access(table: str) -> None:
    """Undo ``relay_access`` (downgrades)."""
    _, relay_role = _roles()
    op.execute(f'DROP POLICY IF EXISTS relay_all_tenants ON "{table}"')
    op.execute(f'REVOKE ALL ON "{table}" FROM "{relay_role}"')


def app_role_timeouts() -> dict[str, int]:
    """The app role's timeouts from the settings: PostgreSQL parameter -> milliseconds."""
    settings = current_app.config["SETTINGS"]
    return {"statement_timeout": settings.database_statement_timeout_ms,
            "lock_timeout": settings.database_lock_timeout_ms,
            "idle_in_transaction_session_timeout":
                settings.database_idle_in_transaction_timeout_ms}


def set_app_role_timeouts(reset: bool = False) -> None:
    """Set (or reset) each timeout on the app role in this database only.

    ``ALTER ROLE ... IN DATABASE ... SET`` needs CREATEROLE: an owner without it gets a
    WARNING naming the statements for a superuser to run, and the migration goes on.
    """
    app_role, _ = _roles()
    changes = " ".join(
        f"EXECUTE format('ALTER ROLE %I IN DATABASE %I {_change(name, ms, reset)}', "
        f"'{app_role}', current_database());"
        for name, ms in app_role_timeouts().items())
    op.execute(f"""
        DO $$ BEGIN
          {changes}
        EXCEPTION WHEN insufficient_privilege THEN
          RAISE WARNING 'VitalBridge: the app role''s timeouts are unchanged (no '
                        'CREATEROLE); a superuser can run ALTER ROLE {app_role} IN DATABASE '
                        '% SET ... (see migrations/0017_app_role_timeouts.py)',
                        current_database();
        END $$""")


def _change(name: str, ms: int, reset: bool) -> str:
    return f"RESET {name}" if reset else f"SET {name} = {int(ms)}"


def service_roles() -> tuple[str, str]:
    """The roles the services log in as: the app's and the relay's."""
    return _roles()


def relay_role() -> str:
    """The relay (worker) role's name."""
    return _roles()[1]

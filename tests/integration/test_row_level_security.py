"""Row-level security: forced on every tenant table, fail-closed, app role safe (acc. 4)."""

from dataclasses import dataclass

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import InternalError

from vitalbridge import create_app
from vitalbridge.messaging.messages import Principal, Query

TENANT_TABLES_WITHOUT_RLS = text("""
SELECT c.relname
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
 WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
   AND NOT (c.relrowsecurity AND c.relforcerowsecurity)
""")

TENANT_TABLES = text("""
SELECT c.relname FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id'
 WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
""")

TENANT_ID_OUTSIDE_KEYS = text("""
SELECT con.conname
  FROM pg_constraint con
  JOIN pg_class c ON c.oid = con.conrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'public' AND con.contype IN ('p', 'u', 'x')
   AND EXISTS (SELECT 1 FROM pg_attribute a
                WHERE a.attrelid = c.oid AND a.attname = 'tenant_id')
   AND NOT EXISTS (SELECT 1 FROM pg_attribute a
                    WHERE a.attrelid = c.oid AND a.attname = 'tenant_id'
                      AND a.attnum = ANY (con.conkey))
""")


def app_role_url(app):
    return app.config["SETTINGS"].app_url


def test_every_tenant_table_has_forced_rls(owner_engine):
    with owner_engine.connect() as conn:
        assert conn.execute(TENANT_TABLES).scalars().all(), "no tenant tables found at all"
        assert conn.execute(TENANT_TABLES_WITHOUT_RLS).scalars().all() == []


def test_tenant_id_is_in_every_key_and_unique_constraint(owner_engine):
    with owner_engine.connect() as conn:
        assert conn.execute(TENANT_ID_OUTSIDE_KEYS).scalars().all() == []


@pytest.mark.parametrize("role_setting", ["database_app_role", "database_relay_role"])
def test_service_roles_own_nothing_and_cannot_bypass_rls(app, owner_engine, role_setting):
    role = getattr(app.config["SETTINGS"], role_setting)
    with owner_engine.connect() as conn:
        flags = conn.execute(text(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = :r"), {"r": role}).one()
        owned = conn.execute(text(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner = :r"),
            {"r": role}).scalar_one()
    assert tuple(flags) == (False, False)
    assert owned == 0


def test_with_no_tenant_set_tenant_tables_return_nothing(app, tenant, other_tenant,
                                                        owner_engine):
    with owner_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM api_keys")).scalar_one() == 2
    engine = create_engine(app_role_url(app))
    try:
        with engine.connect() as conn:
            for table in ("api_keys", "outbox", "audit_log"):
                assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == 0
    finally:
        engine.dispose()


def test_a_tenant_sees_only_its_own_rows(app, tenant, other_tenant):
    engine = create_engine(app_role_url(app))
    try:
        with engine.begin() as conn:
            conn.execute(text("SELECT set_config('app.tenant_id', :t, true)"),
                         {"t": str(tenant.id)})
            tenants_seen = conn.execute(text("SELECT DISTINCT tenant_id FROM api_keys")).scalars()
            assert list(tenants_seen) == [tenant.id]
    finally:
        engine.dispose()


def test_the_app_role_cannot_write_into_another_tenant(app, tenant, other_tenant):
    engine = create_engine(app_role_url(app))
    try:
        with engine.begin() as conn:
            conn.execute(text("SELECT set_config('app.tenant_id', :t, true)"),
                         {"t": str(tenant.id)})
            insert = text(
                "INSERT INTO audit_log (tenant_id, id, actor_role, command, outcome) "
                "VALUES (:other, gen_random_uuid(), 'admin', 'X', 'succeeded')")
            with pytest.raises(Exception, match="row-level security"):
                conn.execute(insert, {"other": other_tenant.id})
    finally:
        engine.dispose()


@dataclass(frozen=True, kw_only=True)
class SneakyWrite(Query):
    """A query whose handler tries to write."""


def sneaky_write(query, ctx):
    ctx.session.execute(text(
        "INSERT INTO tenants (id, name, slug, timezone) "
        "VALUES (gen_random_uuid(), 'x', 'sneaky', 'UTC')"))


def test_a_query_handler_that_writes_fails(owner_url, owner_engine):
    app = create_app(database_url=owner_url, env="testing")
    queries = app.extensions["vitalbridge"].queries
    queries.register(SneakyWrite, sneaky_write)
    try:
        with app.app_context(), pytest.raises(InternalError, match="read-only transaction"):
            queries.ask(SneakyWrite(), Principal.system())
    finally:
        app.extensions["vitalbridge"].db.dispose()
    with owner_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM tenants")).scalar_one() == 0

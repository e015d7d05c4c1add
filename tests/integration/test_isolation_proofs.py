"""Isolation proofs that fail when a protection is removed (hardening, item 4a and 4d).

- The probe: as the app role with tenant A set, for one tenant table: no row of B is
  visible, every row of A is, a row written for B is refused by row-level security and
  one written for A is not. It passes on every tenant table as migrated, and fails on
  each when its policy is dropped or replaced by a permissive one (in a transaction that
  is rolled back).
- The catalog: every tenant table has exactly the expected policies and predicate.
- Privileges: each service role holds exactly what it needs, table by table; the app
  role can only add and read the platform tables that no policy guards.
"""

from datetime import UTC, timedelta

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from tests.appointment_factories import AppointmentFactory, next_monday
from tests.conftest import bearer
from tests.factories import TenantFactory
from tests.patient_factories import PatientFactory
from tests.provider_factories import ProviderFactory
from tests.relay_helpers import drain_with_a_failing_subscriber
from tests.schedule_factories import LeaveRequestFactory, WorkingHoursFactory
from vitalbridge.messaging.parking import RetryPolicy

PREDICATE = ("(tenant_id = (NULLIF(current_setting('app.tenant_id'::text, true), "
             "''::text))::uuid)")
# Tables the relay delivers from or keeps for every tenant (vitalbridge/schema_security.py).
RELAY_TABLES = {"outbox", "inbox", "event_positions", "parked_deliveries", "idempotency_keys",
                "read_model_checkpoints"}
TENANT_TABLES = text("""
SELECT c.relname FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
 WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY 1
""")


def _tenant_tables(owner_url):
    engine = create_engine(owner_url)
    try:
        with engine.connect() as conn:
            return conn.execute(TENANT_TABLES).scalars().all()
    finally:
        engine.dispose()


# -- two clinics with a row in as many tables as their normal life fills -------------------

def _a_clinics_life(app, client):
    monday_noon = next_monday(2).replace(hour=12, tzinfo=UTC)
    with app.app_context():
        tenant = TenantFactory()
        provider = ProviderFactory(tenant_id=tenant.id, specialty="Cardiology")
        WorkingHoursFactory(tenant_id=tenant.id, provider_id=provider.id)
        patient = PatientFactory(tenant_id=tenant.id)
        AppointmentFactory(tenant_id=tenant.id, provider_id=provider.id, patient_id=patient.id,
                           start=monday_noon)
        LeaveRequestFactory(tenant_id=tenant.id, provider_id=provider.id)
    day = (monday_noon + timedelta(days=14)).date().isoformat()
    override = client.put(f"/api/v1/providers/{provider.id}/overrides/{day}",
                          json={"closed": True},
                          headers=bearer(tenant.admin_key) | {"Idempotency-Key": "override-1"})
    assert override.status_code == 200, override.json
    return tenant.id


def _deliver_with_one_failure(app):
    drain_with_a_failing_subscriber(app, "isolation-refuser", "patient.created",
                                    lambda envelope: RuntimeError("parked on purpose"),
                                    RetryPolicy(max_attempts=5, base_seconds=600.0))


@pytest.fixture
def two_clinics(app, client, owner_engine):
    mine, theirs = _a_clinics_life(app, client), _a_clinics_life(app, client)
    _deliver_with_one_failure(app)
    return mine, theirs


def _rows_per_tenant(owner_engine, table):
    with owner_engine.connect() as conn:
        return dict(conn.execute(text(
            f'SELECT tenant_id, count(*) FROM "{table}" GROUP BY 1')).all())


# -- the probe ---------------------------------------------------------------------------

def probe(conn, table, mine, theirs, rows_of):
    """What is wrong with ``table``'s isolation, seen by the app role as tenant ``mine``."""
    problems = []
    visible = dict(conn.execute(text(
        f'SELECT tenant_id, count(*) FROM "{table}" GROUP BY 1')).all())
    if set(visible) - {mine}:
        problems.append(f"sees rows of {sorted(map(str, set(visible) - {mine}))}")
    if visible.get(mine, 0) != rows_of.get(mine, 0):
        problems.append(f"sees {visible.get(mine, 0)} of its {rows_of.get(mine, 0)} rows")
    if not _refused_by_rls(conn, table, theirs):
        problems.append("a row for another tenant passes row-level security")
    if _refused_by_rls(conn, table, mine):
        problems.append("a row for its own tenant is refused by row-level security")
    return problems


def _refused_by_rls(conn, table, tenant_id):
    # RLS's WITH CHECK runs before NOT NULL, CHECK and foreign keys, so a row holding only
    # a tenant id is enough to see it decide; whatever happens is rolled back.
    savepoint = conn.begin_nested()
    try:
        conn.execute(text(f'INSERT INTO "{table}" (tenant_id) VALUES (:t)'), {"t": tenant_id})
    except DBAPIError as error:
        return "row-level security" in str(error.orig)
    finally:
        savepoint.rollback()
    return False


def _as_app_role(conn, app, tenant_id):
    conn.execute(text(f'SET LOCAL ROLE "{app.config["SETTINGS"].database_app_role}"'))
    conn.execute(text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(tenant_id)})


TAMPERINGS = {
    "policy dropped": ["DROP POLICY tenant_isolation ON {t}"],
    "policy permissive": ["DROP POLICY tenant_isolation ON {t}",
                          "CREATE POLICY tenant_isolation ON {t} USING (true) WITH CHECK (true)"],
}


def test_the_probe_passes_on_every_tenant_table_and_fails_once_its_policy_goes(
        app, owner_engine, owner_url, two_clinics):
    mine, theirs = two_clinics
    tables = _tenant_tables(owner_url)
    assert len(tables) >= 25
    filled = [t for t in tables if _rows_per_tenant(owner_engine, t).get(mine)]
    assert len(filled) >= 20, f"the clinics' life filled only {filled}"
    for table in tables:
        rows_of = _rows_per_tenant(owner_engine, table)
        with owner_engine.connect() as conn, conn.begin() as transaction:
            _as_app_role(conn, app, mine)
            assert probe(conn, table, mine, theirs, rows_of) == [], table
            transaction.rollback()
        for tampering, statements in TAMPERINGS.items():
            with owner_engine.connect() as conn, conn.begin() as transaction:
                for statement in statements:
                    conn.execute(text(statement.format(t=f'"{table}"')))
                _as_app_role(conn, app, mine)
                assert probe(conn, table, mine, theirs, rows_of), f"{table}: {tampering}"
                transaction.rollback()


# -- the catalog -------------------------------------------------------------------------

def test_every_tenant_table_has_exactly_the_expected_policies(app, owner_engine, owner_url):
    relay_role = app.config["SETTINGS"].database_relay_role
    with owner_engine.connect() as conn:
        policies = conn.execute(text(
            "SELECT tablename, policyname, permissive, roles, cmd, qual, with_check "
            "FROM pg_policies WHERE schemaname = 'public'")).all()
    found = {}
    for row in policies:
        found.setdefault(row.tablename, set()).add(
            (row.policyname, row.permissive, tuple(row.roles), row.cmd, row.qual, row.with_check))
    isolation = ("tenant_isolation", "PERMISSIVE", ("public",), "ALL", PREDICATE, PREDICATE)
    relay = ("relay_all_tenants", "PERMISSIVE", (relay_role,), "ALL", "true", None)
    tables = _tenant_tables(owner_url)
    assert set(tables) >= RELAY_TABLES
    expected = {t: {isolation, relay} if t in RELAY_TABLES else {isolation} for t in tables}
    assert found == expected


def test_the_catalog_check_sees_a_predicate_that_lets_every_tenant_through(
        app, owner_engine):
    with owner_engine.connect() as conn, conn.begin() as transaction:
        conn.execute(text("DROP POLICY tenant_isolation ON patients"))
        conn.execute(text("CREATE POLICY tenant_isolation ON patients "
                          "USING (true) WITH CHECK (true)"))
        qual = conn.execute(text("SELECT qual FROM pg_policies WHERE tablename = 'patients' "
                                 "AND policyname = 'tenant_isolation'")).scalar_one()
        transaction.rollback()
    assert qual != PREDICATE


# -- privileges --------------------------------------------------------------------------

READ_WRITE = "DELETE,INSERT,SELECT,UPDATE"
APP_PRIVILEGES_EXCEPT_READ_WRITE = {
    "alembic_version": "SELECT",  # readiness compares the schema's revision
    "audit_log": "INSERT,SELECT",  # append-only (0016)
    "tenants": "INSERT,SELECT",  # platform tables: no policy guards them (0018)
    "platform_keys": "INSERT,SELECT",
    "appointment_reminders": "DELETE,INSERT,SELECT",  # a reminder emitted is never changed
    "reconciliation_discrepancies": "INSERT,SELECT,UPDATE",  # closed, never deleted
}
RELAY_PRIVILEGES = {
    "event_positions": "INSERT,SELECT,UPDATE", "idempotency_keys": "DELETE,SELECT",
    "inbox": "DELETE,SELECT", "outbox": "DELETE,SELECT,UPDATE",
    "parked_deliveries": "DELETE,INSERT,SELECT,UPDATE", "read_model_checkpoints": "SELECT",
    "scheduled_job_runs": "INSERT,SELECT,UPDATE",  # the scheduler's jobs run as the relay
}
PRIVILEGES = text("""
SELECT c.relname,
       string_agg(p.privilege_type, ',' ORDER BY p.privilege_type)
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
 CROSS JOIN LATERAL aclexplode(c.relacl) AS p
  JOIN pg_roles r ON r.oid = p.grantee AND r.rolname = :role
 WHERE c.relkind IN ('r', 'p')
 GROUP BY c.relname
""")


def _privileges(owner_engine, role):
    with owner_engine.connect() as conn:
        return dict(conn.execute(PRIVILEGES, {"role": role}).all())


def test_the_app_role_holds_exactly_what_it_needs(app, owner_engine):
    held = _privileges(owner_engine, app.config["SETTINGS"].database_app_role)
    expected = {table: APP_PRIVILEGES_EXCEPT_READ_WRITE.get(table, READ_WRITE) for table in held}
    assert held == expected
    assert set(APP_PRIVILEGES_EXCEPT_READ_WRITE) <= set(held)


def test_the_relay_role_holds_exactly_what_it_needs(app, owner_engine):
    assert _privileges(owner_engine, app.config["SETTINGS"].database_relay_role) == \
        RELAY_PRIVILEGES


@pytest.mark.parametrize("statement", [
    "UPDATE tenants SET name = 'taken over'", "DELETE FROM tenants",
    "UPDATE platform_keys SET revoked_at = NULL", "DELETE FROM platform_keys",
    "TRUNCATE tenants CASCADE",
])
def test_the_app_role_cannot_change_the_platform_tables(app, tenant, statement):
    engine = create_engine(app.config["SETTINGS"].app_url)
    try:
        with engine.connect() as conn, pytest.raises(DBAPIError, match="permission denied"):
            conn.execute(text(statement))
    finally:
        engine.dispose()

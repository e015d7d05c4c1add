"""The app role may only add and read the platform tables, never change or remove a row.

`tenants` and `platform_keys` belong to no tenant, so no row-level security guards them:
their grants are the only guard. The app creates tenants and platform keys and reads
them; it never updates or deletes one (no command does), so a flaw anywhere in a
tenant's request path cannot rename, move or drop another clinic, or revive a key.
The relay role never had any privilege on them.

Revision ID: 0018_platform_tables_insert_only
Revises: 0017_app_role_timeouts
Create Date: 2026-12-06 21:40:00

"""
from collections.abc import Sequence

from alembic import op

from vitalbridge import schema_security as sec

revision: str = "0018_platform_tables_insert_only"
down_revision: str | Sequence[str] | None = "0017_app_role_timeouts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PLATFORM_TABLES = ("tenants", "platform_keys")


def _app_role() -> str:
    app_role, _ = sec.service_roles()
    return app_role


def upgrade() -> None:
    """Revoke UPDATE, DELETE and TRUNCATE on the platform tables from the app role."""
    for table in PLATFORM_TABLES:
        op.execute(f'REVOKE UPDATE, DELETE, TRUNCATE ON "{table}" FROM "{_app_role()}"')


def downgrade() -> None:
    """Give the app role back the UPDATE and DELETE it had."""
    for table in PLATFORM_TABLES:
        op.execute(f'GRANT UPDATE, DELETE ON "{table}" TO "{_app_role()}"')

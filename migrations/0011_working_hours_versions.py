"""Working hours keep their history: one version of the weekly rules per start date.

A provider had one working_hours row that every PUT overwrote, so a future effective_from
emptied the calendar until that date, and past dates were computed from today's rules.
Each PUT now stores a version (zone + rules) governing the local dates from its
effective_from until the next version's; '0001-01-01' stands for "from the beginning"
(a primary key holds no NULL). working_hours stays as the head: its version counter is
the ETag of PUT/GET. Existing rows become each provider's single version.

Downgrade keeps, per provider, the version in force today (else the first one, when all
start later): the others are lost.

Revision ID: 0011_working_hours_versions
Revises: 0010_audit_trail_lookups
Create Date: 2026-11-30 10:00:00

"""
import contextlib
from collections.abc import Iterator, Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from vitalbridge import schema_security as sec

revision: str = "0011_working_hours_versions"
down_revision: str | Sequence[str] | None = "0010_audit_trail_lookups"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FROM_THE_BEGINNING = "'0001-01-01'::date"


def upgrade() -> None:
    """Create the versions table, copy each head's rules in, drop them from the head."""
    op.create_table(
        "working_hours_versions",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("provider_id", sa.Uuid(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("timezone", sa.Text(), nullable=False),
        sa.Column("rules", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "provider_id", "effective_from",
                                name=op.f("pk_working_hours_versions")),
    )
    with _every_tenants_rows("working_hours"):
        op.execute(f"""
            INSERT INTO working_hours_versions
                   (tenant_id, provider_id, effective_from, timezone, rules, created_at)
            SELECT tenant_id, provider_id, COALESCE(effective_from, {FROM_THE_BEGINNING}),
                   timezone, rules, updated_at
              FROM working_hours""")
    sec.grant_app("working_hours_versions")
    sec.tenant_isolation("working_hours_versions")
    for column in ("timezone", "effective_from", "rules"):
        op.drop_column("working_hours", column)


def downgrade() -> None:
    """Put each provider's version in force today back on its head row; drop the rest."""
    op.add_column("working_hours", sa.Column("timezone", sa.Text(), nullable=True))
    op.add_column("working_hours", sa.Column("effective_from", sa.Date(), nullable=True))
    op.add_column("working_hours", sa.Column(
        "rules", postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    with _every_tenants_rows("working_hours"), _every_tenants_rows("working_hours_versions"):
        op.execute(f"""
            UPDATE working_hours h
               SET timezone = v.timezone, rules = v.rules,
                   effective_from = NULLIF(v.effective_from, {FROM_THE_BEGINNING})
              FROM (SELECT DISTINCT ON (tenant_id, provider_id) *
                      FROM working_hours_versions
                     ORDER BY tenant_id, provider_id, effective_from <= CURRENT_DATE DESC,
                              abs(CURRENT_DATE - effective_from)) v
             WHERE v.tenant_id = h.tenant_id AND v.provider_id = h.provider_id""")
        # A head without any version cannot be represented any more.
        op.execute("DELETE FROM working_hours WHERE rules IS NULL")
    op.alter_column("working_hours", "timezone", nullable=False)
    op.alter_column("working_hours", "rules", nullable=False)
    op.drop_table("working_hours_versions")


@contextlib.contextmanager
def _every_tenants_rows(table: str) -> Iterator[None]:
    """Lift FORCE row-level security of ``table`` while data moves between tables.

    The migrating role owns the tables; forced RLS would show it no tenant's rows unless
    it is a superuser. Unforced, the owner sees them all; forced again on the way out.
    """
    op.execute(f'ALTER TABLE "{table}" NO FORCE ROW LEVEL SECURITY')
    yield
    op.execute(f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY')

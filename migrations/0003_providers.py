"""Providers: the table, its forced row-level security, and accent-insensitive name search.

Revision ID: 0003_providers
Revises: 0002_worker_purges_idempotency
Create Date: 2026-11-23 13:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vitalbridge import schema_security as sec

revision: str = "0003_providers"
down_revision: str | Sequence[str] | None = "0002_worker_purges_idempotency"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# unaccent() is only STABLE (its dictionary could change), so it cannot appear in an
# index; these IMMUTABLE wrappers pin the dictionary. SQL-standard bodies resolve every
# name at creation, so the callers' search_path cannot change what they do.
FOLD = """
CREATE FUNCTION provider_fold(value text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN lower(public.unaccent('public.unaccent'::regdictionary, value))
"""
NAME_KEY = """
CREATE FUNCTION provider_name_key(given text, family text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN provider_fold(given || ' ' || family)
"""


def upgrade() -> None:
    """Create providers with RLS and grants, the search functions and the list indexes."""
    op.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute(FOLD)
    op.execute(NAME_KEY)
    op.create_table(
        "providers",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("given_name", sa.Text(), nullable=False),
        sa.Column("family_name", sa.Text(), nullable=False),
        sa.Column("specialty", sa.Text(), nullable=False),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column("timezone", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("deactivated_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("active = (deactivated_at IS NULL)",
                           name=op.f("ck_providers_deactivation")),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_providers")),
    )
    op.create_index("ix_providers_name_order", "providers",
                    ["tenant_id", "family_name", "given_name", "id"])
    op.create_index("ix_providers_specialty", "providers",
                    ["tenant_id", sa.text("lower(specialty)"), "family_name", "given_name", "id"])
    op.execute("CREATE INDEX ix_providers_name_search ON providers "
               "USING gin (provider_name_key(given_name, family_name) gin_trgm_ops)")
    sec.grant_app("providers")
    sec.tenant_isolation("providers")


def downgrade() -> None:
    """Drop the table and the search functions (the extensions may serve other tables)."""
    op.drop_table("providers")
    op.execute("DROP FUNCTION provider_name_key(text, text)")
    op.execute("DROP FUNCTION provider_fold(text)")

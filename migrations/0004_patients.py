"""Patients, with accent- and typo-tolerant name search; every MRN ever issued.

Revision ID: 0004_patients
Revises: 0003_providers
Create Date: 2026-11-23 13:30:00

Name search uses pg_trgm and unaccent (both ship with PostgreSQL's contrib and are
"trusted" extensions: a database owner may create them). ``public.vb_unaccent`` is the
IMMUTABLE wrapper a generated column needs; other domains may share it, so it is made
with CREATE OR REPLACE and left in place by the downgrade, like the extensions.

Row-level security and indexes: PostgreSQL applies the tenant policy before any
condition whose function is not LEAKPROOF, so ``word <% search_name`` cannot use the
trigram index under RLS (every search would scan the whole tenant). pg_trgm's
similarity operators only compare their arguments and raise no data-dependent errors,
so marking them LEAKPROOF is sound; only a superuser may. Where the migrating role is
not one, the migration warns and search still works, unindexed: have a superuser run
the ALTER FUNCTION statements below (again after any ``ALTER EXTENSION pg_trgm UPDATE``).
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from vitalbridge import schema_security as sec

revision: str = "0004_patients"
down_revision: str | Sequence[str] | None = "0003_providers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNACCENT = """
CREATE OR REPLACE FUNCTION public.vb_unaccent(text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
AS $$ SELECT public.unaccent('public.unaccent'::regdictionary, $1) $$
"""

TRIGRAM_OPERATORS = ("similarity_op", "word_similarity_op", "word_similarity_commutator_op",
                     "strict_word_similarity_op", "strict_word_similarity_commutator_op")

LEAKPROOF = """
DO $$
BEGIN
  IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    {alters}
  ELSE
    RAISE WARNING 'pg_trgm operators are not LEAKPROOF: patient name search cannot use '
      'its trigram index under row-level security. A superuser should run: {alters}';
  END IF;
END $$
"""

SEARCH_NAME = "lower(public.vb_unaccent(given_name || ' ' || family_name))"
SORT_NAME = "lower(public.vb_unaccent(family_name || ' ' || given_name))"


def upgrade() -> None:
    """Create the extensions, the unaccent wrapper, patients and patient_mrns."""
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public")
    op.execute("CREATE EXTENSION IF NOT EXISTS unaccent WITH SCHEMA public")
    op.execute(UNACCENT)
    alters = " ".join(f"ALTER FUNCTION public.{name}(text, text) LEAKPROOF;"
                      for name in TRIGRAM_OPERATORS)
    op.execute(LEAKPROOF.format(alters=alters))
    _create_patients()
    op.create_table(
        "patient_mrns",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("mrn", sa.Text(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "mrn", name=op.f("pk_patient_mrns")),
    )
    for table in ("patients", "patient_mrns"):
        sec.grant_app(table)
        sec.tenant_isolation(table)


def _create_patients() -> None:
    op.create_table(
        "patients",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("mrn", sa.Text(), nullable=False),
        sa.Column("given_name", sa.Text(), nullable=False),
        sa.Column("family_name", sa.Text(), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("sex", sa.Text(), server_default=sa.text("'unknown'"), nullable=False),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column("address", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("search_name", sa.Text(), sa.Computed(SEARCH_NAME, persisted=True),
                  nullable=False),
        sa.Column("sort_name", sa.Text(), sa.Computed(SORT_NAME, persisted=True),
                  nullable=False),
        sa.CheckConstraint("sex IN ('female', 'male', 'other', 'unknown')",
                           name=op.f("ck_patients_sex")),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_patients")),
        sa.UniqueConstraint("tenant_id", "mrn", name=op.f("uq_patients_tenant_id_mrn")),
    )
    op.create_index("ix_patients_tenant_id_birth_date", "patients", ["tenant_id", "birth_date"])
    op.create_index("ix_patients_tenant_id_phone", "patients", ["tenant_id", "phone"])
    op.create_index("ix_patients_tenant_id_sort_name_id", "patients",
                    ["tenant_id", "sort_name", "id"])
    op.create_index("ix_patients_search_name_trgm", "patients", ["search_name"],
                    postgresql_using="gin", postgresql_ops={"search_name": "gin_trgm_ops"},
                    postgresql_with={"fastupdate": "off"})


def downgrade() -> None:
    """Drop the tables; the extensions and vb_unaccent stay (other domains may use them)."""
    op.drop_table("patient_mrns")
    op.drop_table("patients")

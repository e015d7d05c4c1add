"""Patient search ranks names, not patients: every distinct search name of a tenant once,
kept by triggers on ``patients``, and each name's patients by id.

A search's score depends on the name alone. Scored once per patient, a common name
(thousands of namesakes in a clinic of a million) made a search take hundreds of ms;
scored once per name, then read name by name through an index, a page costs what the
names matched cost. Statement-level triggers with transition tables keep the names for
every way rows arrive (the API, bulk loads), at one statement per INSERT or UPDATE.

Revision ID: 0027_patient_names
Revises: 0026_last_visit_no_patient_name
Create Date: 2026-12-07 14:30:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vitalbridge import schema_security as sec

revision: str = "0027_patient_names"
down_revision: str | Sequence[str] | None = "0026_last_visit_no_patient_name"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The rows a statement wrote, their names added once; a name already known is left.
# SECURITY INVOKER (the default): the writer's row-level security applies, and its
# rows are its tenant's.
REMEMBER_NAMES = """
CREATE FUNCTION patient_names_remember() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO patient_names (tenant_id, search_name)
  SELECT DISTINCT tenant_id, search_name FROM written
  ON CONFLICT DO NOTHING;
  RETURN NULL;
END $$
"""


def upgrade() -> None:
    """Create the names table (forced RLS), fill it, index it, and add the triggers."""
    op.create_table(
        "patient_names",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("search_name", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "search_name", name="pk_patient_names"),
    )
    sec.tenant_isolation("patient_names")
    op.execute("INSERT INTO patient_names (tenant_id, search_name) "
               "SELECT DISTINCT tenant_id, search_name FROM patients")
    op.create_index("ix_patient_names_search_name_trgm", "patient_names", ["search_name"],
                    postgresql_using="gin", postgresql_ops={"search_name": "gin_trgm_ops"},
                    postgresql_with={"fastupdate": "off"})
    op.create_index("ix_patients_tenant_id_search_name_id", "patients",
                    ["tenant_id", "search_name", "id"])
    op.execute(REMEMBER_NAMES)
    for event in ("INSERT", "UPDATE"):
        op.execute(f"""
            CREATE TRIGGER patient_names_on_{event.lower()} AFTER {event} ON patients
            REFERENCING NEW TABLE AS written
            FOR EACH STATEMENT EXECUTE FUNCTION patient_names_remember()""")


def downgrade() -> None:
    """Drop the triggers, the function, the index on patients and the names table."""
    for event in ("insert", "update"):
        op.execute(f"DROP TRIGGER patient_names_on_{event} ON patients")
    op.execute("DROP FUNCTION patient_names_remember()")
    op.drop_index("ix_patients_tenant_id_search_name_id", table_name="patients")
    op.drop_table("patient_names")

"""A patient summary's stored last visit leaves out the patient's name, which the answer
takes from the row's own display name: an appointment's end then recomputes the visit
columns alone, without asking for the patient. The names already stored are cleared
here (the answers stay the same); nothing needs a rebuild.

Revision ID: 0026_last_visit_no_patient_name
Revises: 0025_clinic_metrics
Create Date: 2026-12-07 12:00:00

"""
from collections.abc import Sequence

from alembic import op

revision: str = "0026_last_visit_no_patient_name"
down_revision: str | Sequence[str] | None = "0025_clinic_metrics"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SUMMARIES = ("patient_summaries", "patient_summaries_rebuild")


def upgrade() -> None:
    """Clear the patient's name in every stored last visit."""
    _set_names("'null'::jsonb")


def downgrade() -> None:
    """Put the row's display name back into every stored last visit."""
    _set_names("to_jsonb(display_name)")


def _set_names(name: str) -> None:
    """Set ``patient_name`` of the stored last visits to ``name`` (an expression), as
    the migrating owner: row-level security is forced on the tables, so the owner sees
    every tenant's rows only while it is lifted, and the transaction restores it before
    anyone else can look."""
    for table in SUMMARIES:
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"UPDATE {table} SET last_visit = jsonb_set(last_visit, "
                   f"'{{patient_name}}', {name}) WHERE last_visit IS NOT NULL")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")

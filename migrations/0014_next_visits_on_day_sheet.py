"""A patient's next visits come from the day sheet, not from the patient summary row.

The day sheet's lines gain the rest of the appointment (cancel reason, who created and
last changed it, when), filled here from the appointments, and an index of each
patient's pending lines; the patient summaries lose their copy of the pending visits.
So a booking touches one day-sheet line and no summary. Nothing needs a rebuild.

Revision ID: 0014_next_visits_on_day_sheet
Revises: 0013_provider_days
Create Date: 2026-12-04 18:30:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014_next_visits_on_day_sheet"
down_revision: str | Sequence[str] | None = "0013_provider_days"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DAY_SHEETS = ("day_sheet", "day_sheet_rebuild")
SUMMARIES = ("patient_summaries", "patient_summaries_rebuild")
NEW_COLUMNS = ("cancel_reason", "created_by_key_id", "updated_by_key_id", "created_at",
               "updated_at")


def _instant(name: str) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=True)


def upgrade() -> None:
    """Add the columns, fill them, index the pending lines, drop the summaries' copy."""
    for table in DAY_SHEETS:
        op.add_column(table, sa.Column("cancel_reason", sa.Text(), nullable=True))
        op.add_column(table, sa.Column("created_by_key_id", sa.Uuid(), nullable=True))
        op.add_column(table, sa.Column("updated_by_key_id", sa.Uuid(), nullable=True))
        op.add_column(table, _instant("created_at"))
        op.add_column(table, _instant("updated_at"))
    _fill_day_sheet()
    op.execute("TRUNCATE day_sheet_rebuild")  # only a rebuild in progress holds rows
    for table in DAY_SHEETS:
        for column in ("created_at", "updated_at"):
            op.alter_column(table, column, nullable=False)
    op.create_index("ix_day_sheet_patient_pending", "day_sheet",
                    ["tenant_id", "patient_id", "ends_at"],
                    postgresql_where=sa.text("status IN ('booked', 'checked_in')"))
    for table in SUMMARIES:
        op.drop_column(table, "upcoming")


def _fill_day_sheet() -> None:
    """Copy the new columns from the appointments, as the migrating owner.

    Row-level security is forced on both tables, so the owner sees every tenant's rows
    only while it is lifted; the transaction restores it before anyone else can look.
    """
    for table in ("day_sheet", "appointments"):
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    op.execute("""
        UPDATE day_sheet d
           SET cancel_reason = a.cancel_reason, created_by_key_id = a.created_by_key_id,
               updated_by_key_id = a.updated_by_key_id, created_at = a.created_at,
               updated_at = a.updated_at
          FROM appointments a
         WHERE a.tenant_id = d.tenant_id AND a.id = d.appointment_id""")
    op.execute("DELETE FROM day_sheet WHERE created_at IS NULL")  # no such appointment
    for table in ("day_sheet", "appointments"):
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")


def downgrade() -> None:
    """Put the summaries' column back (empty: they then need a rebuild), drop the rest."""
    for table in SUMMARIES:
        op.add_column(table, sa.Column("upcoming", postgresql.JSONB(), nullable=False,
                                       server_default=sa.text("'[]'::jsonb")))
        op.alter_column(table, "upcoming", server_default=None)
    op.execute("ALTER TABLE read_model_checkpoints NO FORCE ROW LEVEL SECURITY")
    op.execute("UPDATE read_model_checkpoints SET built_at = NULL "
               "WHERE read_model = 'patient_summaries'")
    op.execute("ALTER TABLE read_model_checkpoints FORCE ROW LEVEL SECURITY")
    op.drop_index("ix_day_sheet_patient_pending", table_name="day_sheet")
    for table in DAY_SHEETS:
        for column in reversed(NEW_COLUMNS):
            op.drop_column(table, column)

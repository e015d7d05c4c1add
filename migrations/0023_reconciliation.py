"""What reconciliation found: one row per discrepancy, open until a full check no longer
finds it (at most one open row per check and subject, so a persisting discrepancy is
announced once).

Revision ID: 0023_reconciliation
Revises: 0022_appointment_reminders
Create Date: 2026-12-07 09:10:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vitalbridge import schema_security as sec

revision: str = "0023_reconciliation"
down_revision: str | Sequence[str] | None = "0022_appointment_reminders"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the table (forced RLS); the app role reads, adds and closes its rows."""
    when = sa.DateTime(timezone=True)
    op.create_table(
        "reconciliation_discrepancies",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("check_name", sa.Text(), nullable=False),
        sa.Column("subject_type", sa.Text(), nullable=False),
        sa.Column("subject_id", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("found_at", when, server_default=sa.text("now()"), nullable=False),
        sa.Column("last_found_at", when, server_default=sa.text("now()"), nullable=False),
        sa.Column("resolved_at", when),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_reconciliation_discrepancies"),
    )
    op.create_index("uq_reconciliation_discrepancies_open", "reconciliation_discrepancies",
                    ["tenant_id", "check_name", "subject_id"], unique=True,
                    postgresql_where=sa.text("resolved_at IS NULL"))
    sec.tenant_isolation("reconciliation_discrepancies")
    app_role, _ = sec.service_roles()
    op.execute(f'REVOKE ALL ON reconciliation_discrepancies FROM "{app_role}"')
    op.execute(f'GRANT SELECT, INSERT, UPDATE ON reconciliation_discrepancies TO "{app_role}"')


def downgrade() -> None:
    """Drop the table."""
    op.drop_table("reconciliation_discrepancies")

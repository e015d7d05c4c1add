"""The reminders the appointment domain has emitted: one row per appointment, start and
lead time, so that ``appointment.reminder_due`` goes out once even when the job runs
twice or the scheduler fails over; a rescheduled appointment (a new start) is reminded
again.

Revision ID: 0022_appointment_reminders
Revises: 0021_reminder_lead_minutes
Create Date: 2026-12-07 08:30:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vitalbridge import schema_security as sec

revision: str = "0022_appointment_reminders"
down_revision: str | Sequence[str] | None = "0021_reminder_lead_minutes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the table (forced RLS); the app role reads, adds and prunes its rows."""
    when = sa.DateTime(timezone=True)
    op.create_table(
        "appointment_reminders",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("appointment_id", sa.Uuid(), nullable=False),
        sa.Column("starts_at", when, nullable=False),
        sa.Column("lead_minutes", sa.Integer(), nullable=False),
        sa.Column("emitted_at", when, server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "appointment_id", "starts_at", "lead_minutes",
                                name="pk_appointment_reminders"),
    )
    op.create_index("ix_appointment_reminders_start", "appointment_reminders",
                    ["tenant_id", "starts_at"])
    sec.tenant_isolation("appointment_reminders")
    app_role, _ = sec.service_roles()
    op.execute(f'REVOKE ALL ON appointment_reminders FROM "{app_role}"')  # default privileges
    op.execute(f'GRANT SELECT, INSERT, DELETE ON appointment_reminders TO "{app_role}"')


def downgrade() -> None:
    """Drop the table."""
    op.drop_table("appointment_reminders")

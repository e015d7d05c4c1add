"""The appointment domain's own copy of approved leave, checked by bookings under the
provider's calendar lock (closing the race of a leave approved while a booking is in
flight), filled now from the leave already approved.

Revision ID: 0020_appointment_provider_leave
Revises: 0019_scheduled_job_runs
Create Date: 2026-12-06 23:05:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vitalbridge import schema_security as sec

revision: str = "0020_appointment_provider_leave"
down_revision: str | Sequence[str] | None = "0019_scheduled_job_runs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the table (forced RLS), then copy the approved leave into it."""
    when = sa.DateTime(timezone=True)
    op.create_table(
        "appointment_provider_leave",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("leave_id", sa.Uuid(), nullable=False),
        sa.Column("provider_id", sa.Uuid(), nullable=False),
        sa.Column("starts_at", when, nullable=False),
        sa.Column("ends_at", when, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "leave_id", name="pk_appointment_provider_leave"),
    )
    op.create_index("ix_appointment_provider_leave_provider", "appointment_provider_leave",
                    ["tenant_id", "provider_id", "starts_at"])
    sec.tenant_isolation("appointment_provider_leave")
    sec.grant_app("appointment_provider_leave")
    op.execute("INSERT INTO appointment_provider_leave "
               "(tenant_id, leave_id, provider_id, starts_at, ends_at) "
               "SELECT tenant_id, id, provider_id, starts_at, ends_at FROM leave_requests "
               "WHERE status = 'approved'")


def downgrade() -> None:
    """Drop the table."""
    op.drop_table("appointment_provider_leave")

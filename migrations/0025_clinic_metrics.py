"""Clinic metrics: per tenant, week or month, and specialty (and the whole clinic),
computed hourly by the scheduler from the daily read models.

Revision ID: 0025_clinic_metrics
Revises: 0024_late_cancellation_hours
Create Date: 2026-12-07 10:30:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vitalbridge import schema_security as sec
from vitalbridge.reporting.metrics_tables import COUNTS

revision: str = "0025_clinic_metrics"
down_revision: str | Sequence[str] | None = "0024_late_cancellation_hours"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the table (forced RLS; the app role's default privileges)."""
    op.create_table(
        "clinic_metrics",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("granularity", sa.Text(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("specialty", sa.Text(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in COUNTS),
        sa.Column("median_lead_minutes", sa.Double()),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "granularity", "period_start", "specialty",
                                name="pk_clinic_metrics"),
    )
    sec.tenant_isolation("clinic_metrics")


def downgrade() -> None:
    """Drop the table."""
    op.drop_table("clinic_metrics")

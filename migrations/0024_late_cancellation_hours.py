"""A tenant setting: how close to the start a cancellation counts as late in the clinic
metrics (default 24 hours).

Revision ID: 0024_late_cancellation_hours
Revises: 0023_reconciliation
Create Date: 2026-12-07 10:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vitalbridge.tenant.model import LATE_CANCELLATION_RULE

revision: str = "0024_late_cancellation_hours"
down_revision: str | Sequence[str] | None = "0023_reconciliation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the column with its default and its bounds."""
    op.add_column("tenant_settings", sa.Column(
        "late_cancellation_hours", sa.Integer(), nullable=False, server_default=sa.text("24")))
    op.create_check_constraint("late_cancellation_hours", "tenant_settings",
                               LATE_CANCELLATION_RULE)


def downgrade() -> None:
    """Drop the column (and with it its constraint)."""
    op.drop_column("tenant_settings", "late_cancellation_hours")

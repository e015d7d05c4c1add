"""A tenant setting: the lead times of appointment reminders (default a day and two
hours before the start).

Revision ID: 0021_reminder_lead_minutes
Revises: 0020_appointment_provider_leave
Create Date: 2026-12-06 23:20:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

from vitalbridge.tenant.model import REMINDER_LEADS_RULE

revision: str = "0021_reminder_lead_minutes"
down_revision: str | Sequence[str] | None = "0020_appointment_provider_leave"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the column with its default and its bounds."""
    op.add_column("tenant_settings", sa.Column(
        "reminder_lead_minutes", ARRAY(sa.Integer()), nullable=False,
        server_default=sa.text("'{1440,120}'")))
    op.create_check_constraint("reminder_lead_minutes", "tenant_settings",
                               REMINDER_LEADS_RULE)


def downgrade() -> None:
    """Drop the column (and with it its constraint)."""
    op.drop_column("tenant_settings", "reminder_lead_minutes")

"""Tenant settings (minimum booking notice) with forced RLS and grants; appointments last
at most 8 hours.

Revision ID: 0008_settings_and_limits
Revises: 0007_appointments
Create Date: 2026-11-25 09:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vitalbridge import schema_security as sec

revision: str = "0008_settings_and_limits"
down_revision: str | Sequence[str] | None = "0007_appointments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# 30 days in minutes: tenant/messages.py MAX_NOTICE_MINUTES (the API checks it first).
MAX_NOTICE_MINUTES = 43200


def upgrade() -> None:
    """Create tenant_settings (grants, isolation) and bound an appointment's length."""
    op.create_table(
        "tenant_settings",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("min_notice_minutes", sa.Integer(), server_default=sa.text("0"),
                  nullable=False),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.CheckConstraint(f"min_notice_minutes BETWEEN 0 AND {MAX_NOTICE_MINUTES}",
                           name=op.f("ck_tenant_settings_min_notice_minutes")),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_tenant_settings")),
    )
    sec.grant_app("tenant_settings")
    sec.tenant_isolation("tenant_settings")
    op.create_check_constraint(op.f("ck_appointments_length"), "appointments",
                               "ends_at - starts_at <= interval '8 hours'")


def downgrade() -> None:
    """Drop the length check and the settings table (its policy goes with it)."""
    op.drop_constraint(op.f("ck_appointments_length"), "appointments", type_="check")
    op.drop_table("tenant_settings")

"""Schedules: working hours, date overrides and leave requests, with forced RLS and grants.

Revision ID: 0006_schedule
Revises: 0005_reliable_delivery
Create Date: 2026-11-24 09:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from vitalbridge import schema_security as sec

revision: str = "0006_schedule"
down_revision: str | Sequence[str] | None = "0005_reliable_delivery"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("working_hours", "schedule_overrides", "leave_requests")


def _stamps() -> list[sa.Column]:
    return [
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
    ]


def upgrade() -> None:
    """Create the three tables, their indexes, grants and tenant isolation."""
    op.create_table(
        "working_hours",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("provider_id", sa.Uuid(), nullable=False),
        sa.Column("timezone", sa.Text(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=True),
        sa.Column("rules", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        *_stamps(),
        sa.PrimaryKeyConstraint("tenant_id", "provider_id", name=op.f("pk_working_hours")),
    )
    op.create_table(
        "schedule_overrides",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("provider_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("intervals", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("closed", sa.Boolean(), nullable=False),
        *_stamps(),
        sa.CheckConstraint("closed = (jsonb_array_length(intervals) = 0)",
                           name=op.f("ck_schedule_overrides_closed")),
        sa.PrimaryKeyConstraint("tenant_id", "provider_id", "day",
                                name=op.f("pk_schedule_overrides")),
    )
    op.create_table(
        "leave_requests",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("provider_id", sa.Uuid(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default=sa.text("'pending'"), nullable=False),
        sa.Column("requested_by_key_id", sa.Uuid(), nullable=True),
        sa.Column("decided_by_key_id", sa.Uuid(), nullable=True),
        *_stamps(),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_leave_requests_period")),
        sa.CheckConstraint("status IN ('pending', 'approved', 'rejected', 'cancelled')",
                           name=op.f("ck_leave_requests_status")),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_leave_requests")),
    )
    op.create_index("ix_leave_requests_provider_status", "leave_requests",
                    ["tenant_id", "provider_id", "status"])
    op.create_index("ix_leave_requests_created", "leave_requests",
                    ["tenant_id", "created_at", "id"])
    for table in TABLES:
        sec.grant_app(table)
        sec.tenant_isolation(table)


def downgrade() -> None:
    """Drop the three tables (their policies and indexes go with them)."""
    for table in reversed(TABLES):
        op.drop_table(table)

"""Appointments: no two active ones of a provider or a patient overlap, enforced by
exclusion constraints; forced RLS and grants.

Revision ID: 0007_appointments
Revises: 0006_schedule
Create Date: 2026-11-23 13:30:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from vitalbridge import schema_security as sec

revision: str = "0007_appointments"
down_revision: str | Sequence[str] | None = "0006_schedule"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE = "status IN ('booked', 'checked_in', 'completed')"
# Named here and in appointment/handlers.py CONSTRAINT_ERRORS (violation -> 409).
EXCLUSIONS = {"ex_appointments_provider_period": "provider_id",
              "ex_appointments_patient_period": "patient_id"}


def upgrade() -> None:
    """Create the table, its indexes and exclusion constraints, grants and isolation."""
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.create_table(
        "appointments",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("provider_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period", postgresql.TSTZRANGE(),
                  sa.Computed("tstzrange(starts_at, ends_at, '[)')", persisted=True),
                  nullable=False),
        sa.Column("status", sa.Text(), server_default=sa.text("'booked'"), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("cancel_reason", sa.Text(), nullable=True),
        sa.Column("created_by_key_id", sa.Uuid(), nullable=True),
        sa.Column("updated_by_key_id", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_appointments_period")),
        sa.CheckConstraint("status IN ('booked', 'checked_in', 'completed', 'cancelled', "
                           "'no_show')", name=op.f("ck_appointments_status")),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_appointments")),
    )
    for name, column in EXCLUSIONS.items():
        # Half-open ranges: back-to-back appointments touch without overlapping.
        op.execute(f"ALTER TABLE appointments ADD CONSTRAINT {name} EXCLUDE USING gist "
                   f"(tenant_id WITH =, {column} WITH =, period WITH &&) WHERE ({ACTIVE})")
    op.create_index("ix_appointments_provider_start", "appointments",
                    ["tenant_id", "provider_id", "starts_at", "id"])
    op.create_index("ix_appointments_patient_start", "appointments",
                    ["tenant_id", "patient_id", "starts_at", "id"])
    op.create_index("ix_appointments_start", "appointments", ["tenant_id", "starts_at", "id"])
    sec.grant_app("appointments")
    sec.tenant_isolation("appointments")


def downgrade() -> None:
    """Drop the table (constraints, policies and indexes go with it); btree_gist stays."""
    op.drop_table("appointments")

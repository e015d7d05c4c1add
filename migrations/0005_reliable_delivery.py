"""Reliable delivery: feed positions, parked (retrying / dead-lettered) deliveries.

Revision ID: 0005_reliable_delivery
Revises: 0004_patients
Create Date: 2026-11-23 12:50:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vitalbridge import schema_security as sec

revision: str = "0005_reliable_delivery"
down_revision: str | Sequence[str] | None = "0004_patients"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add outbox.position, event_positions and parked_deliveries, with RLS and grants."""
    op.add_column("outbox", sa.Column("position", sa.BigInteger(), nullable=True))
    op.create_index("uq_outbox_tenant_id_position", "outbox", ["tenant_id", "position"],
                    unique=True)
    op.create_index("ix_outbox_delivered_at", "outbox", ["delivered_at"])
    op.create_table(
        "event_positions",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("last_position", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_event_positions")),
    )
    op.create_table(
        "parked_deliveries",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("subscriber", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("aggregate_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("parked_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("dead_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "subscriber", "event_id",
                                name=op.f("pk_parked_deliveries")),
    )
    op.create_index("ix_parked_deliveries_lane", "parked_deliveries",
                    ["subscriber", "tenant_id", "aggregate_id", "seq"])
    for table in ("event_positions", "parked_deliveries"):
        sec.grant_app(table)
        sec.tenant_isolation(table)
    sec.relay_access("event_positions", "SELECT, INSERT, UPDATE")
    sec.relay_access("parked_deliveries", "SELECT, INSERT, UPDATE, DELETE")
    op.execute(f'GRANT DELETE ON outbox TO "{sec.relay_role()}"')
    sec.relay_access("inbox", "SELECT, DELETE")  # retention forgets old inbox rows too


def downgrade() -> None:
    """Drop what upgrade added."""
    op.drop_table("parked_deliveries")
    op.drop_table("event_positions")
    op.drop_index("ix_outbox_delivered_at", table_name="outbox")
    op.drop_index("uq_outbox_tenant_id_position", table_name="outbox")
    op.drop_column("outbox", "position")
    op.execute(f'REVOKE DELETE ON outbox FROM "{sec.relay_role()}"')
    sec.revoke_relay_access("inbox")

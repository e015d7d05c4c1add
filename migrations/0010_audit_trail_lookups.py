"""Audit trail lookups: one resource's or one key's entries without scanning the table.

GET /api/v1/audit filters by target_id and by actor. The (tenant_id, occurred_at) index
serves the unfiltered trail and time windows, but a filter that matches a few rows (an
appointment's history, a seldom-used key) made PostgreSQL read the whole audit_log, every
tenant's rows included, and the table grows with every command, for good. These indexes
end in (occurred_at, id), so a page comes out in the trail's order, cursor included.
A refused creation has no target and the app's own reactions no key: those rows stay out.

Revision ID: 0010_audit_trail_lookups
Revises: 0009_outbox_wakes_relay
Create Date: 2026-11-29 20:30:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_audit_trail_lookups"
down_revision: str | Sequence[str] | None = "0009_outbox_wakes_relay"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Index audit_log by target and by actor key, each in the trail's order.

    Built CONCURRENTLY, outside the migration's transaction: every command appends to
    audit_log, and a plain CREATE INDEX would hold them all while a large trail is read.
    """
    with op.get_context().autocommit_block():
        op.create_index("ix_audit_log_target", "audit_log",
                        ["tenant_id", "target_id", "occurred_at", "id"],
                        postgresql_where=sa.text("target_id IS NOT NULL"),
                        postgresql_concurrently=True)
        op.create_index("ix_audit_log_actor", "audit_log",
                        ["tenant_id", "actor_key_id", "occurred_at", "id"],
                        postgresql_where=sa.text("actor_key_id IS NOT NULL"),
                        postgresql_concurrently=True)


def downgrade() -> None:
    """Drop both lookups (filters fall back to scanning)."""
    op.drop_index("ix_audit_log_actor", table_name="audit_log")
    op.drop_index("ix_audit_log_target", table_name="audit_log")

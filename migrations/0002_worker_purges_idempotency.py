"""The worker (relay) role may purge expired idempotency records of every tenant.

Revision ID: 0002_worker_purges_idempotency
Revises: 0001_foundation
Create Date: 2026-11-23 12:45:00

"""
from collections.abc import Sequence

from vitalbridge import schema_security as sec

revision: str = "0002_worker_purges_idempotency"
down_revision: str | Sequence[str] | None = "0001_foundation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Grant the relay role SELECT and DELETE on idempotency_keys across tenants."""
    sec.relay_access("idempotency_keys", "SELECT, DELETE")


def downgrade() -> None:
    """Take the grant and policy back."""
    sec.revoke_relay_access("idempotency_keys")

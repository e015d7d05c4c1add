"""Timeouts on the app role: every connection it makes is bounded.

statement_timeout, lock_timeout and idle_in_transaction_session_timeout are set on the
role itself, in this database (ALTER ROLE ... IN DATABASE ... SET), from DATABASE_STATEMENT_TIMEOUT_MS (10 s),
DATABASE_LOCK_TIMEOUT_MS (3 s) and DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS (30 s) as
they are when this migration runs (to change them later: the same statement, or
downgrade to 0016 and upgrade again). A request whose statement runs out answers 503.
Rebuilds, and the relay's applies and the report roll that wait on their locks, lift
the first two in their own transactions.

Revision ID: 0017_app_role_timeouts
Revises: 0016_audit_append_only
Create Date: 2026-12-04 19:20:00

"""
from collections.abc import Sequence

from vitalbridge import schema_security as sec

revision: str = "0017_app_role_timeouts"
down_revision: str | Sequence[str] | None = "0016_audit_append_only"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Set the timeouts on the app role."""
    sec.set_app_role_timeouts()


def downgrade() -> None:
    """Reset them to the server's defaults."""
    sec.set_app_role_timeouts(reset=True)

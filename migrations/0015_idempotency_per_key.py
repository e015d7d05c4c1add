"""Idempotency records belong to the API key that made them, not to the whole tenant.

Until now a second key of the same tenant sending the same Idempotency-Key and body got
the first key's answer without its own checks (a read-only key replaying an admin's
201). The records gain the key's id in their primary key.

The records already kept (at most IDEMPOTENCY_TTL_HOURS old) cannot be given a key:
they are dropped, so a client retrying a request across this upgrade runs it again.
Deploy it when few retries are in flight.

Revision ID: 0015_idempotency_per_key
Revises: 0014_next_visits_on_day_sheet
Create Date: 2026-12-04 19:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_idempotency_per_key"
down_revision: str | Sequence[str] | None = "0014_next_visits_on_day_sheet"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _truncate() -> None:
    op.execute("TRUNCATE idempotency_keys")  # RLS does not apply: every tenant's rows


def upgrade() -> None:
    """Key id into the primary key: (tenant, api key, Idempotency-Key)."""
    _truncate()
    op.add_column("idempotency_keys", sa.Column("api_key_id", sa.Uuid(), nullable=False))
    op.drop_constraint("pk_idempotency_keys", "idempotency_keys", type_="primary")
    op.create_primary_key("pk_idempotency_keys", "idempotency_keys",
                          ["tenant_id", "api_key_id", "key"])


def downgrade() -> None:
    """Back to one record per tenant and Idempotency-Key (the records are dropped)."""
    _truncate()
    op.drop_constraint("pk_idempotency_keys", "idempotency_keys", type_="primary")
    op.drop_column("idempotency_keys", "api_key_id")
    op.create_primary_key("pk_idempotency_keys", "idempotency_keys", ["tenant_id", "key"])

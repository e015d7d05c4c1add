"""Daily provider figures: the read model behind the utilization report.

Like the other read models it is kept by the relay from the events committed after this
migration; what the tables held before needs `flask read-models rebuild provider_days`
(make run does it). Until then its checkpoints (one per existing tenant, built_at NULL)
make every answer say `behind`, and reports are computed live (no window is recorded).

Revision ID: 0013_provider_days
Revises: 0012_read_models
Create Date: 2026-12-03 13:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vitalbridge import schema_security as sec

revision: str = "0013_provider_days"
down_revision: str | Sequence[str] | None = "0012_read_models"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "provider_days"
TABLES = (NAME, NAME + "_rebuild")
FIGURES = ("working_minutes", "booked_minutes", "appointments", "cancellations", "no_shows")


def _columns() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("provider_id", sa.Uuid(), nullable=False),
        sa.Column("zone", sa.Text(), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("day_key", sa.Text(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in FIGURES),
        sa.Column("day_json", sa.Text(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    """Create the tables with row-level security, and the unbuilt checkpoints."""
    for table in TABLES:
        op.create_table(table, *_columns(), sa.PrimaryKeyConstraint(
            "tenant_id", "provider_id", "zone", "local_date", name=f"pk_{table}"))
        op.create_index(f"ix_{table}_day_key", table, ["tenant_id", "day_key"])
    op.create_index("ix_provider_days_report", NAME,
                    ["tenant_id", "provider_id", "zone", "local_date"],
                    postgresql_include=["day_json", *FIGURES])
    op.create_table(
        "provider_day_window",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("first_date", sa.Date(), nullable=False),
        sa.Column("last_date", sa.Date(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_provider_day_window")),
    )
    for table in (*TABLES, "provider_day_window"):
        sec.grant_app(table)
        sec.tenant_isolation(table)
    # The owner may write every tenant's checkpoints only while RLS is not forced on it.
    op.execute("ALTER TABLE read_model_checkpoints NO FORCE ROW LEVEL SECURITY")
    op.execute(f"""
        INSERT INTO read_model_checkpoints (tenant_id, read_model)
        SELECT id, '{NAME}' FROM tenants ON CONFLICT DO NOTHING""")
    op.execute("ALTER TABLE read_model_checkpoints FORCE ROW LEVEL SECURITY")


def downgrade() -> None:
    """Drop what upgrade created, and the read model's checkpoints and leftovers."""
    op.execute("ALTER TABLE read_model_checkpoints NO FORCE ROW LEVEL SECURITY")
    op.execute(f"DELETE FROM read_model_checkpoints WHERE read_model = '{NAME}'")
    op.execute(f"DELETE FROM read_model_pending_keys WHERE read_model = '{NAME}'")
    op.execute("ALTER TABLE read_model_checkpoints FORCE ROW LEVEL SECURITY")
    op.drop_table("provider_day_window")
    for table in reversed(TABLES):
        op.drop_table(table)

"""Read models: checkpoints, patient summaries and the day sheet, each with a staging twin.

The read models are kept by the relay from the events committed after this migration;
what the tables held before needs `flask read-models rebuild NAME` (make run does it).
Until then their checkpoints (one per existing tenant, built_at NULL) make every answer
say `behind`. The outbox gains an index for the freshness each answer reports.

Revision ID: 0012_read_models
Revises: 0011_working_hours_versions
Create Date: 2026-12-03 09:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from vitalbridge import schema_security as sec

revision: str = "0012_read_models"
down_revision: str | Sequence[str] | None = "0011_working_hours_versions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

READ_MODELS = ("patient_summaries", "day_sheet")
STAGING = "_rebuild"


def _instant(name: str, nullable: bool = True) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _patient_summary_columns() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("patient", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=False),
        sa.Column("upcoming", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("last_visit", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        _instant("last_visit_start"),
        sa.Column("cancelled_starts", postgresql.ARRAY(sa.DateTime(timezone=True)),
                  nullable=False),
        sa.Column("no_show_starts", postgresql.ARRAY(sa.DateTime(timezone=True)),
                  nullable=False),
        sa.Column("provider_ids", postgresql.ARRAY(sa.Uuid()), nullable=False),
        _instant("computed_at", nullable=False),
    ]


def _day_sheet_columns() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("appointment_id", sa.Uuid(), nullable=False),
        sa.Column("provider_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        _instant("starts_at", nullable=False),
        _instant("ends_at", nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("provider_name", sa.Text(), nullable=False),
        sa.Column("specialty", sa.Text(), nullable=False),
        sa.Column("timezone", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        _instant("computed_at", nullable=False),
    ]


def upgrade() -> None:
    """Create the tables (RLS forced on each), then the outbox's freshness index."""
    _checkpoints()
    op.create_table(
        "read_model_pending_keys",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("read_model", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "read_model", "key",
                                name=op.f("pk_read_model_pending_keys")),
    )
    for name, columns, key in (("patient_summaries", _patient_summary_columns, "patient_id"),
                               ("day_sheet", _day_sheet_columns, "appointment_id")):
        for table in (name, name + STAGING):
            op.create_table(table, *columns(),
                            sa.PrimaryKeyConstraint("tenant_id", key, name=f"pk_{table}"))
    op.create_index("ix_patient_summaries_provider_ids", "patient_summaries",
                    ["provider_ids"], postgresql_using="gin")
    op.create_index("ix_day_sheet_date", "day_sheet",
                    ["tenant_id", "local_date", "starts_at", "appointment_id"])
    op.create_index("ix_day_sheet_provider_date", "day_sheet",
                    ["tenant_id", "provider_id", "local_date", "starts_at", "appointment_id"])
    op.create_index("ix_day_sheet_specialty_date", "day_sheet",
                    ["tenant_id", sa.text("lower(specialty)"), "local_date", "starts_at",
                     "appointment_id"])
    tables = ("read_model_checkpoints", "read_model_pending_keys",
              *(name + suffix for name in READ_MODELS for suffix in ("", STAGING)))
    for table in tables:
        sec.grant_app(table)
        sec.tenant_isolation(table)
    sec.relay_access("read_model_checkpoints", "SELECT")  # for the relay's lag gauges
    with op.get_context().autocommit_block():
        op.create_index("ix_outbox_undelivered_by_tenant", "outbox",
                        ["tenant_id", "occurred_at"],
                        postgresql_where=sa.text("delivered_at IS NULL"),
                        postgresql_concurrently=True)


def _checkpoints() -> None:
    """The checkpoints table, with an unbuilt checkpoint per existing tenant.

    Filled before row-level security is turned on: the migrating owner is then still
    allowed to write every tenant's rows.
    """
    op.create_table(
        "read_model_checkpoints",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("read_model", sa.Text(), nullable=False),
        sa.Column("last_event_id", sa.Uuid(), nullable=True),
        _instant("last_event_at"),
        _instant("applied_at"),
        _instant("built_at"),
        _instant("rebuilding_since"),
        _instant("last_rebuild_at"),
        sa.Column("last_rebuild_seconds", sa.Double(), nullable=True),
        sa.Column("last_rebuild_rows", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "read_model",
                                name=op.f("pk_read_model_checkpoints")),
    )
    names = ", ".join(f"('{name}')" for name in READ_MODELS)
    op.execute(f"""
        INSERT INTO read_model_checkpoints (tenant_id, read_model)
        SELECT t.id, m.name FROM tenants t CROSS JOIN (VALUES {names}) AS m (name)""")


def downgrade() -> None:
    """Drop what upgrade created."""
    op.drop_index("ix_outbox_undelivered_by_tenant", table_name="outbox")
    for name in READ_MODELS:
        op.drop_table(name + STAGING)
        op.drop_table(name)
    op.drop_table("read_model_pending_keys")
    sec.revoke_relay_access("read_model_checkpoints")
    op.drop_table("read_model_checkpoints")

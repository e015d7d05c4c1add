"""Scheduled job runs: what each job did last and when it runs next, for one active
scheduler at a time (elected by an advisory lock) and ``flask scheduler status``.

A platform table: the relay role (the scheduler's jobs connect as it) reads and writes
it; the app role has no privilege on it.

Revision ID: 0019_scheduled_job_runs
Revises: 0018_platform_tables_insert_only
Create Date: 2026-12-06 22:40:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vitalbridge import schema_security as sec

revision: str = "0019_scheduled_job_runs"
down_revision: str | Sequence[str] | None = "0018_platform_tables_insert_only"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the table; the relay role may read, add and update its rows."""
    when = sa.DateTime(timezone=True)
    op.create_table(
        "scheduled_job_runs",
        sa.Column("job", sa.Text(), nullable=False),
        sa.Column("interval_seconds", sa.Integer(), nullable=False),
        sa.Column("last_started_at", when),
        sa.Column("last_finished_at", when),
        sa.Column("last_duration_seconds", sa.Double()),
        sa.Column("last_outcome", sa.Text()),
        sa.Column("failures_in_a_row", sa.Integer(), server_default=sa.text("0"),
                  nullable=False),
        sa.Column("last_success_at", when),
        sa.Column("next_run_at", when),
        sa.Column("run_by", sa.Text()),
        sa.PrimaryKeyConstraint("job", name="pk_scheduled_job_runs"),
    )
    app_role, relay_role = sec.service_roles()
    op.execute(f'REVOKE ALL ON scheduled_job_runs FROM "{app_role}"')  # default privileges
    op.execute(f'GRANT SELECT, INSERT, UPDATE ON scheduled_job_runs TO "{relay_role}"')


def downgrade() -> None:
    """Drop the table."""
    op.drop_table("scheduled_job_runs")

"""Every INSERT into the outbox wakes the relay (NOTIFY outbox), from the database itself.

Whoever appends events (a command's unit of work, a reaction, a repair by hand) wakes
the relay without remembering to, and a command saves a round trip. NOTIFY only wakes;
the relay still reads the table, and its poll catches a wake-up that was missed.

Revision ID: 0009_outbox_wakes_relay
Revises: 0008_settings_and_limits
Create Date: 2026-11-23 16:00:00

"""
from collections.abc import Sequence

from alembic import op

revision: str = "0009_outbox_wakes_relay"
down_revision: str | Sequence[str] | None = "0008_settings_and_limits"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# vitalbridge/messaging/uow.py OUTBOX_CHANNEL; the relay LISTENs on it.
CHANNEL = "outbox"


def upgrade() -> None:
    """A statement-level trigger: one notification per INSERT, merged per transaction."""
    op.execute(f"""
        CREATE FUNCTION outbox_wake_relay() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
          PERFORM pg_notify('{CHANNEL}', '');
          RETURN NULL;
        END $$""")
    op.execute("""
        CREATE TRIGGER outbox_wake_relay AFTER INSERT ON outbox
        FOR EACH STATEMENT EXECUTE FUNCTION outbox_wake_relay()""")


def downgrade() -> None:
    """Drop the trigger and its function (units of work must NOTIFY again)."""
    op.execute("DROP TRIGGER outbox_wake_relay ON outbox")
    op.execute("DROP FUNCTION outbox_wake_relay()")

"""The audit trail is append-only: the app and relay roles may add rows, never change them.

Their UPDATE, DELETE and TRUNCATE grants on audit_log are revoked (the app's default
privileges had given them), and triggers refuse an UPDATE, DELETE or TRUNCATE by any
role but the table's owner, so a grant made by mistake later still cannot rewrite the
trail. The owner (migrations, an operator's retention job) keeps the power it has
anyway: it could drop the triggers.

Revision ID: 0016_audit_append_only
Revises: 0015_idempotency_per_key
Create Date: 2026-12-04 19:10:00

"""
from collections.abc import Sequence

from alembic import op

from vitalbridge import schema_security as sec

revision: str = "0016_audit_append_only"
down_revision: str | Sequence[str] | None = "0015_idempotency_per_key"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_REFUSE = """
CREATE FUNCTION audit_log_is_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF current_user <> (SELECT tableowner FROM pg_tables
                       WHERE schemaname = TG_TABLE_SCHEMA AND tablename = TG_TABLE_NAME) THEN
    RAISE EXCEPTION 'the audit trail is append-only: % refused for %', TG_OP, current_user
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END $$
"""


def upgrade() -> None:
    """Revoke the rewriting grants, then refuse rewrites in triggers."""
    for role in sec.service_roles():
        op.execute(f'REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM "{role}"')
    op.execute(_REFUSE)
    op.execute("CREATE TRIGGER audit_log_rows_append_only BEFORE UPDATE OR DELETE "
               "ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only()")
    op.execute("CREATE TRIGGER audit_log_never_truncated BEFORE TRUNCATE "
               "ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only()")


def downgrade() -> None:
    """Drop the triggers and give the app role back what it had."""
    op.execute("DROP TRIGGER audit_log_never_truncated ON audit_log")
    op.execute("DROP TRIGGER audit_log_rows_append_only ON audit_log")
    op.execute("DROP FUNCTION audit_log_is_append_only()")
    sec.grant_app("audit_log")

"""the audit trail refuses UPDATE, DELETE and TRUNCATE on PostgreSQL

Revision ID: 0006_audit_append_only
Revises: 0005_sessions
Create Date: 2026-11-28 04:05:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006_audit_append_only"
down_revision: str | None = "0005_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The app only ever inserts audit rows (api.audit.record); whoever gets the database
# credentials should not be able to rewrite who did what either.
_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    """Triggers refusing changes to audit rows (PostgreSQL; SQLite is the one-machine demo)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_FUNCTION)
    op.execute(
        "CREATE TRIGGER audit_event_no_change BEFORE UPDATE OR DELETE ON audit_event "
        "FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()"
    )
    op.execute(
        "CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only()"
    )


def downgrade() -> None:
    """Drop the triggers (an administrator's deliberate act)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_event")
    op.execute("DROP TRIGGER IF EXISTS audit_event_no_change ON audit_event")
    op.execute("DROP FUNCTION IF EXISTS audit_event_append_only()")

"""server-side sessions, token expiry and last use, lockout per (user, client address)

Revision ID: 0005_sessions
Revises: 0004_idempotency
Create Date: 2026-11-28 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_sessions"
down_revision: str | None = "0004_idempotency"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Sessions table; token expiry; the throttle keyed by client address too."""
    op.create_table(
        "app_session",
        sa.Column("id", sa.String(length=64), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("app_user.id"), nullable=False),
        _ts("created_at"),
        _ts("last_seen_at"),
        _ts("revoked_at", nullable=True),
    )
    op.create_index("ix_app_session_user_id", "app_session", ["user_id"])
    with op.batch_alter_table("api_token") as batch:
        batch.add_column(_ts("expires_at", nullable=True))
        batch.add_column(_ts("last_used_at", nullable=True))
    # Throttle rows are short-lived counters: recreated rather than migrated.
    op.drop_table("login_throttle")
    op.create_table(
        "login_throttle",
        sa.Column("username", sa.String(length=64), primary_key=True),
        sa.Column("client", sa.String(length=64), primary_key=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("lockouts", sa.Integer(), nullable=False),
        _ts("locked_until", nullable=True),
        _ts("last_failure_at", nullable=True),
    )


def downgrade() -> None:
    """Back to per-username throttling, no sessions table, no token expiry."""
    op.drop_table("login_throttle")
    op.create_table(
        "login_throttle",
        sa.Column("username", sa.String(length=64), primary_key=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        _ts("locked_until", nullable=True),
        _ts("last_failure_at", nullable=True),
    )
    with op.batch_alter_table("api_token") as batch:
        batch.drop_column("last_used_at")
        batch.drop_column("expires_at")
    op.drop_table("app_session")

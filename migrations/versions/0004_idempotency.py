"""idempotency keys of step submissions and referrals

Revision ID: 0004_idempotency
Revises: 0003_merge
Create Date: 2026-12-02 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_idempotency"
down_revision: str | None = "0003_merge"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the idempotency key table."""
    op.create_table(
        "idempotency_key",
        sa.Column("scope", sa.String(length=64), primary_key=True),
        sa.Column("key", sa.String(length=128), primary_key=True),
        sa.Column("request", sa.String(length=32), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("result", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_idempotency_key_created_at", "idempotency_key", ["created_at"])


def downgrade() -> None:
    """Drop the idempotency key table."""
    op.drop_table("idempotency_key")

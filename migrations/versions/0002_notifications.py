"""notification delivery, acknowledgements, scheduler runs and waiting-list snapshots

Revision ID: 0002_notifications
Revises: 0001
Create Date: 2026-11-27 10:00:00
"""

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0002_notifications"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, *, nullable: bool = False) -> "sa.Column[datetime]":
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "notification",
        sa.Column("key", sa.String(length=160), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("outbox_id", sa.String(length=96), nullable=True),
        sa.Column("pathway_id", sa.String(length=64), nullable=True),
        sa.Column("task_id", sa.String(length=64), nullable=True),
        sa.Column("recipient_role", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("body", sa.String(), nullable=True),
        _ts("send_at"),
        sa.Column("state", sa.String(length=16), nullable=False),
        _ts("created_at"),
        _ts("routed_at", nullable=True),
        sa.PrimaryKeyConstraint("key"),
        sa.UniqueConstraint("outbox_id", "send_at", name="uq_notification_outbox"),
    )
    op.create_index("ix_notification_outbox_id", "notification", ["outbox_id"])
    op.create_index("ix_notification_pathway_id", "notification", ["pathway_id"])
    op.create_index("ix_notification_recipient_role", "notification", ["recipient_role"])
    op.create_index("ix_notification_send_at", "notification", ["send_at"])
    op.create_index("ix_notification_state", "notification", ["state"])

    op.create_table(
        "delivery",
        sa.Column("key", sa.String(length=160), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _ts("next_attempt_at"),
        _ts("lease_until", nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("resends", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(), nullable=True),
        _ts("sent_at", nullable=True),
        _ts("updated_at"),
        sa.ForeignKeyConstraint(["key"], ["notification.key"]),
        sa.PrimaryKeyConstraint("key", "channel"),
    )
    op.create_index("ix_delivery_state", "delivery", ["state"])
    op.create_index("ix_delivery_next_attempt_at", "delivery", ["next_attempt_at"])

    op.create_table(
        "task_ack",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pathway_id", sa.String(length=64), nullable=False),
        sa.Column("task_id", sa.String(length=64), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("by", sa.String(length=64), nullable=False),
        _ts("at"),
        sa.Column("note", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(["pathway_id"], ["pathway.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_task_ack_pathway_id", "task_ack", ["pathway_id"])

    op.create_table(
        "scheduler_run",
        sa.Column("job", sa.String(length=32), nullable=False),
        sa.Column("period", sa.String(length=32), nullable=False),
        sa.Column("instance", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        _ts("started_at"),
        _ts("finished_at", nullable=True),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("job", "period"),
    )

    op.create_table(
        "waiting_list_snapshot",
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("centre", sa.String(length=32), nullable=False),
        sa.Column("stage", sa.String(length=32), nullable=False),
        sa.Column("bucket", sa.String(length=8), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        _ts("taken_at"),
        sa.PrimaryKeyConstraint("period", "centre", "stage", "bucket"),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("waiting_list_snapshot")
    op.drop_table("scheduler_run")
    op.drop_table("task_ack")
    op.drop_index("ix_delivery_next_attempt_at", table_name="delivery")
    op.drop_index("ix_delivery_state", table_name="delivery")
    op.drop_table("delivery")
    for name in ("state", "send_at", "recipient_role", "pathway_id", "outbox_id"):
        op.drop_index(f"ix_notification_{name}", table_name="notification")
    op.drop_table("notification")

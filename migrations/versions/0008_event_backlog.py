"""the pathway event outbox's queue per sink, as partial indexes

Revision ID: 0008_event_backlog
Revises: 0007_hl7_intake
Create Date: 2026-11-28 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_event_backlog"
down_revision: str | None = "0007_hl7_intake"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Delivered events stay in the table; a sink's queue is the few rows it has not taken.
_SINKS = {"webhook": sa.text("webhook_at IS NULL"), "broker": sa.text("broker_at IS NULL")}


def upgrade() -> None:
    """The publisher's next events and the backlog (count, oldest) from a small index."""
    for sink, pending in _SINKS.items():
        op.create_index(
            f"ix_pathway_event_{sink}_queue",
            "pathway_event",
            ["time", "id"],
            postgresql_where=pending,
            sqlite_where=pending,
        )


def downgrade() -> None:
    """Drop them."""
    for sink in _SINKS:
        op.drop_index(f"ix_pathway_event_{sink}_queue", table_name="pathway_event")

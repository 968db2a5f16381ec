"""clinical results: best response and waiting-time clocks

Revision ID: 0002_clinical
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_clinical"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the best response column and the waiting_clock table."""
    with op.batch_alter_table("pathway") as batch_op:
        batch_op.add_column(sa.Column("best_response", sa.String(length=2), nullable=True))
    op.create_table(
        "waiting_clock",
        sa.Column("pathway_id", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("start_on", sa.Date(), nullable=False),
        sa.Column("stop_on", sa.Date(), nullable=True),
        sa.Column("pauses", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["pathway_id"], ["pathway.id"]),
        sa.PrimaryKeyConstraint("pathway_id", "key"),
    )
    op.create_index("ix_waiting_clock_kind", "waiting_clock", ["kind"])


def downgrade() -> None:
    """Remove them again."""
    op.drop_index("ix_waiting_clock_kind", table_name="waiting_clock")
    op.drop_table("waiting_clock")
    with op.batch_alter_table("pathway") as batch_op:
        batch_op.drop_column("best_response")

"""registry submissions, and the indexes the ops dashboard and worklists need

Revision ID: 0002_reports
Revises: 0002_clinical
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_reports"
# waiting_clock is created by 0002_clinical; its index needs it first. This was a
# depends_on, which Alembic already recorded like a parent (applying this revision took
# 0002_clinical out of alembic_version), so making it the parent changes no database.
down_revision: str | None = "0002_clinical"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OPEN = sa.text("state = 'open'")
_UNDELIVERED = sa.text("delivered_at IS NULL")
_RUNNING = sa.text("stop_on IS NULL")
_PAUSED = sa.text("json_array_length(pauses) > 0")


def upgrade() -> None:
    """Create registry_submission; add the reporting indexes to the read model."""
    op.create_table(
        "registry_submission",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("pathway_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("record_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("response", sa.Text(), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.UniqueConstraint("pathway_id", "version", name="uq_registry_submission_version"),
    )
    op.create_index("ix_registry_submission_pathway_id", "registry_submission", ["pathway_id"])
    # Worklist order (overdue first, then due date) straight from the index, open tasks only.
    op.create_index(
        "ix_task_open_worklist",
        "task",
        ["role", sa.text("overdue DESC"), "due_on", "pathway_id", "id"],
        postgresql_where=_OPEN,
        sqlite_where=_OPEN,
    )
    # Dashboard: open tasks someone can act on (no window, or its window has opened).
    op.create_index(
        "ix_task_open_actionable",
        "task",
        ["not_before", "role", "due_on"],
        postgresql_where=_OPEN,
        sqlite_where=_OPEN,
    )
    # Exits per week: terminal stages entered in a date range.
    op.create_index("ix_stage_history_stage_entered", "stage_history", ["stage", "entered_at"])
    # Entries per week.
    op.create_index("ix_pathway_referred_at", "pathway", ["referred_at"])
    # Stage counts and the pathways still waiting for treatment, as index-only scans.
    op.create_index("ix_pathway_stage_id", "pathway", ["stage", "id"])
    # Clocks stopped (patients treated) in the reporting window: an index-only scan.
    op.create_index("ix_waiting_clock_stop", "waiting_clock", ["stop_on", "kind", "start_on"])
    # Running clocks of the pathways still waiting for treatment.
    op.create_index(
        "ix_waiting_clock_running",
        "waiting_clock",
        ["pathway_id", "kind", "start_on"],
        postgresql_where=_RUNNING,
        sqlite_where=_RUNNING,
    )
    # The few clocks with pauses, which the dashboard recounts with the pure clock rules.
    op.create_index(
        "ix_waiting_clock_paused",
        "waiting_clock",
        ["pathway_id"],
        postgresql_where=_PAUSED,
        sqlite_where=_PAUSED,
    )
    # Notification backlog: undelivered messages only (a small set in a healthy service).
    op.create_index(
        "ix_outbox_undelivered",
        "outbox",
        ["send_at"],
        postgresql_where=_UNDELIVERED,
        sqlite_where=_UNDELIVERED,
    )


def downgrade() -> None:
    """Drop what upgrade created."""
    op.drop_index("ix_outbox_undelivered", table_name="outbox")
    op.drop_index("ix_waiting_clock_paused", table_name="waiting_clock")
    op.drop_index("ix_waiting_clock_running", table_name="waiting_clock")
    op.drop_index("ix_waiting_clock_stop", table_name="waiting_clock")
    op.drop_index("ix_pathway_stage_id", table_name="pathway")
    op.drop_index("ix_pathway_referred_at", table_name="pathway")
    op.drop_index("ix_stage_history_stage_entered", table_name="stage_history")
    op.drop_index("ix_task_open_actionable", table_name="task")
    op.drop_index("ix_task_open_worklist", table_name="task")
    op.drop_index("ix_registry_submission_pathway_id", table_name="registry_submission")
    op.drop_table("registry_submission")

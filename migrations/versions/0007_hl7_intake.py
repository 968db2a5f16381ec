"""inbound messages from hospital systems (HL7v2, FHIR) and the pathway event outbox

Revision ID: 0007_hl7_intake
Revises: 0006_audit_append_only
Create Date: 2026-11-28 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_hl7_intake"
down_revision: str | None = "0006_audit_append_only"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the inbound message and pathway event tables."""
    op.create_table(
        "inbound_message",
        sa.Column("channel", sa.String(length=16), primary_key=True),
        sa.Column("control_id", sa.String(length=200), primary_key=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("message_type", sa.String(length=32), nullable=False),
        sa.Column("raw", sa.String(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("ack_code", sa.String(length=2), nullable=True),
        sa.Column("ack_text", sa.String(length=500), nullable=True),
        sa.Column("pathway_id", sa.String(length=64), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=64), nullable=True),
    )
    op.create_index("ix_inbound_message_received_at", "inbound_message", ["received_at"])
    op.create_index("ix_inbound_message_status", "inbound_message", ["status"])
    op.create_table(
        "pathway_event",
        sa.Column("id", sa.String(length=160), primary_key=True),
        sa.Column("pathway_id", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("webhook_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("broker_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_pathway_event_pathway_id", "pathway_event", ["pathway_id"])
    op.create_index("ix_pathway_event_time", "pathway_event", ["time"])


def downgrade() -> None:
    """Drop the inbound message and pathway event tables."""
    op.drop_table("pathway_event")
    op.drop_table("inbound_message")

"""merge the 0002 branches into one head

Revision ID: 0003_merge
Revises: 0002_notifications, 0002_reports, 0002_users
Create Date: 2026-12-01 10:00:00
"""

from collections.abc import Sequence

# A merge revision, not a re-parented chain: databases migrated before it have one row in
# alembic_version per branch, which a chain would make overlapping (ancestor and descendant
# both "current"); a merge moves them to one row and changes no schema.
revision: str = "0003_merge"
down_revision: str | Sequence[str] | None = (
    "0002_notifications",
    "0002_reports",
    "0002_users",
)
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Nothing to apply: this revision only joins the branches."""


def downgrade() -> None:
    """Nothing to revert."""

"""Tables of the reporting side: what was submitted to the registry, when, and its hash.

Never pass these ``table=True`` classes into a workflow (sdk-python #646).
"""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, DateTime, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def _ts(*, nullable: bool = False) -> Any:
    return Field(sa_column=Column(DateTime(timezone=True), nullable=nullable))


class SubmissionStatus(StrEnum):
    """A submission's life: claimed (pending), then sent or failed (a retry resends it)."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class RegistrySubmissionRow(SQLModel, table=True):
    """One version of one pathway's registry record, and how sending it went.

    ``(pathway_id, version)`` is unique: two attempts can never both claim the next version,
    which is what makes a change go out exactly once.
    """

    __tablename__ = "registry_submission"
    __table_args__ = (
        UniqueConstraint("pathway_id", "version", name="uq_registry_submission_version"),
    )

    id: int | None = Field(default=None, primary_key=True)
    pathway_id: str = Field(index=True, max_length=64)
    version: int
    record_hash: str = Field(max_length=64)
    status: str = Field(max_length=16)
    claimed_at: datetime = _ts()
    sent_at: datetime | None = _ts(nullable=True)
    attempts: int = 0
    http_status: int | None = None
    response: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    payload: str = Field(sa_column=Column(Text, nullable=False))

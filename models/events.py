"""The pathway event outbox: CloudEvents waiting for (or delivered to) each sink.

Rows are written by the projection activity in the same transaction as the read-model change
they describe, so no event is ever emitted for a change that did not commit.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from models.tables import _ts


class PathwayEventRow(SQLModel, table=True):
    """One event; ``id`` is stable (receivers dedupe on it), one delivered-at per sink."""

    __tablename__ = "pathway_event"

    id: str = Field(primary_key=True, max_length=160)
    pathway_id: str = Field(index=True, max_length=64)
    type: str = Field(max_length=64)
    time: datetime = _ts(index=True)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    webhook_at: datetime | None = _ts(nullable=True)
    broker_at: datetime | None = _ts(nullable=True)

"""The SQL read model: a projection of pathway state, written only by activities.

Never pass these ``table=True`` classes into a workflow (sdk-python #646).
"""

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime
from sqlmodel import Field, SQLModel


def _ts(*, nullable: bool = False, index: bool = False) -> Any:
    # Timezone-aware everywhere: workflow time is UTC and must round-trip unchanged.
    return Field(sa_column=Column(DateTime(timezone=True), nullable=nullable, index=index))


class PathwayRow(SQLModel, table=True):
    """One row per pathway: where it is and what is next."""

    __tablename__ = "pathway"

    id: str = Field(primary_key=True, max_length=64)
    centre: str = Field(index=True, max_length=32)
    stage: str = Field(index=True, max_length=32)
    stage_entered_at: datetime = _ts()
    referred_at: datetime = _ts()
    next_due_on: date | None = Field(default=None, index=True)
    overdue: bool = Field(default=False, index=True)
    treatment_number: int = 0
    treatment_on: date | None = None
    cumulative_lung_dose_gy: float = 0.0
    exit_reason: str | None = None
    best_response: str | None = Field(default=None, max_length=2)
    last_seq: int = 0
    updated_at: datetime = _ts()


class PatientRow(SQLModel, table=True):
    """The patient's identity, apart from the pathway so aggregate reads never touch it."""

    __tablename__ = "patient"

    pathway_id: str = Field(primary_key=True, foreign_key="pathway.id", max_length=64)
    nhs_number: str = Field(index=True, max_length=10)
    family_name: str
    given_name: str
    date_of_birth: date


class StageHistoryRow(SQLModel, table=True):
    """Every stage a pathway entered, in order."""

    __tablename__ = "stage_history"

    pathway_id: str = Field(primary_key=True, foreign_key="pathway.id", max_length=64)
    ordinal: int = Field(primary_key=True)
    stage: str = Field(max_length=32)
    entered_at: datetime = _ts()
    reason: str | None = None


class TaskRow(SQLModel, table=True):
    """A human task: the worklists read these."""

    __tablename__ = "task"

    pathway_id: str = Field(primary_key=True, foreign_key="pathway.id", max_length=64)
    id: str = Field(primary_key=True, max_length=64)
    kind: str = Field(max_length=32)
    role: str = Field(index=True, max_length=32)
    title: str
    state: str = Field(index=True, max_length=16)
    opened_at: datetime = _ts()
    due_on: date = Field(index=True)
    not_before: date | None = None
    overdue: bool = False
    closed_at: datetime | None = _ts(nullable=True)
    detail: str | None = None
    visit_id: str | None = None


class VisitRow(SQLModel, table=True):
    """A scheduled follow-up visit."""

    __tablename__ = "visit"

    pathway_id: str = Field(primary_key=True, foreign_key="pathway.id", max_length=64)
    id: str = Field(primary_key=True, max_length=64)
    code: str = Field(max_length=16)
    kind: str = Field(max_length=32)
    treatment_number: int
    due_on: date = Field(index=True)
    window_days: int
    state: str = Field(max_length=16)
    recorded_on: date | None = None


class OutcomeRow(SQLModel, table=True):
    """A recorded clinical fact; ``data`` keeps the submitted values and derived results."""

    __tablename__ = "outcome"

    pathway_id: str = Field(primary_key=True, foreign_key="pathway.id", max_length=64)
    id: str = Field(primary_key=True, max_length=64)
    kind: str = Field(index=True, max_length=32)
    recorded_at: datetime = _ts()
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class OutboxRow(SQLModel, table=True):
    """A notification waiting to be delivered (delivery is the notification loop's job)."""

    __tablename__ = "outbox"

    id: str = Field(primary_key=True, max_length=96)
    pathway_id: str = Field(index=True, foreign_key="pathway.id", max_length=64)
    task_id: str | None = Field(default=None, max_length=64)
    recipient_role: str = Field(index=True, max_length=32)
    kind: str = Field(max_length=16)
    due_on: date | None = None
    subject: str
    send_at: datetime = _ts(index=True)
    created_at: datetime = _ts()
    delivered_at: datetime | None = _ts(nullable=True, index=True)
    attempts: int = 0


class WaitingClockRow(SQLModel, table=True):
    """A waiting-time clock; days waited and the PTL bucket are computed when read."""

    __tablename__ = "waiting_clock"

    pathway_id: str = Field(primary_key=True, foreign_key="pathway.id", max_length=64)
    key: str = Field(primary_key=True, max_length=16)
    kind: str = Field(index=True, max_length=8)
    start_on: date
    stop_on: date | None = None
    pauses: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )


class ProjectionLogRow(SQLModel, table=True):
    """Which (pathway, seq) batches have been applied: the idempotency key."""

    __tablename__ = "projection_log"

    pathway_id: str = Field(primary_key=True, max_length=64)
    seq: int = Field(primary_key=True)
    applied_at: datetime = _ts()

"""Tables of the notification loop and the scheduler (delivery state lives here, not in outbox).

Never pass these ``table=True`` classes into a workflow (sdk-python #646).
"""

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, DateTime, UniqueConstraint
from sqlmodel import Field, SQLModel


def _ts(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(sa_column=Column(DateTime(timezone=True), nullable=nullable, index=index))


class NotificationState(StrEnum):
    """A message's life before its channels take over."""

    NEW = "new"  # waiting for its send time
    ROUTED = "routed"  # one delivery row per channel exists
    SUPPRESSED = "suppressed"  # the task's escalation was acknowledged
    UNROUTABLE = "unroutable"  # no channel is configured for the role


class DeliveryState(StrEnum):
    """One message on one channel: pending -> sending (leased) -> sent | dead."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DEAD = "dead"
    SUPPRESSED = "suppressed"


class NotificationRow(SQLModel, table=True):
    """A message to deliver: a copy of one outbox alarm, or a scheduler digest.

    ``key`` is the idempotency key every channel carries (Message-ID, Idempotency-Key).
    An outbox row is re-armed in place when its task is re-dated, so the key is the outbox id
    plus its send time: a re-armed reminder is a new message, a retried one is not.
    """

    __tablename__ = "notification"
    __table_args__ = (UniqueConstraint("outbox_id", "send_at", name="uq_notification_outbox"),)

    key: str = Field(primary_key=True, max_length=160)
    source: str = Field(max_length=16)
    outbox_id: str | None = Field(default=None, max_length=96, index=True)
    pathway_id: str | None = Field(default=None, max_length=64, index=True)
    task_id: str | None = Field(default=None, max_length=64)
    recipient_role: str = Field(max_length=32, index=True)
    kind: str = Field(max_length=16)
    due_on: date | None = None
    subject: str
    body: str | None = None
    send_at: datetime = _ts(index=True)
    state: str = Field(max_length=16, index=True)
    created_at: datetime = _ts()
    routed_at: datetime | None = _ts(nullable=True)


class DeliveryRow(SQLModel, table=True):
    """One message on one channel, with its claim (lease), retries and outcome."""

    __tablename__ = "delivery"

    key: str = Field(primary_key=True, foreign_key="notification.key", max_length=160)
    channel: str = Field(primary_key=True, max_length=64)
    state: str = Field(max_length=16, index=True)
    attempts: int = 0
    next_attempt_at: datetime = _ts(index=True)
    lease_until: datetime | None = _ts(nullable=True)
    lease_owner: str | None = Field(default=None, max_length=64)
    resends: int = Field(default=0, description="Sends after an expired lease (maybe twice).")
    last_error: str | None = None
    sent_at: datetime | None = _ts(nullable=True)
    updated_at: datetime = _ts()


class AckRow(SQLModel, table=True):
    """Someone acknowledged a task's escalation: the ladder stops. Also the audit record."""

    __tablename__ = "task_ack"

    id: int | None = Field(default=None, primary_key=True)
    pathway_id: str = Field(foreign_key="pathway.id", max_length=64, index=True)
    task_id: str = Field(max_length=64)
    due_on: date | None = Field(default=None, description="The task's due date when acked.")
    by: str = Field(max_length=64)
    at: datetime = _ts()
    note: str | None = None


class SchedulerRunRow(SQLModel, table=True):
    """One run of a periodic job; (job, period) is unique, so a period runs once."""

    __tablename__ = "scheduler_run"

    job: str = Field(primary_key=True, max_length=32)
    period: str = Field(primary_key=True, max_length=32)
    instance: str = Field(max_length=64)
    state: str = Field(max_length=16)
    started_at: datetime = _ts()
    finished_at: datetime | None = _ts(nullable=True)
    summary: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class WaitingListSnapshotRow(SQLModel, table=True):
    """Open pathways per PTL bucket of days since referral, taken weekly."""

    __tablename__ = "waiting_list_snapshot"

    period: str = Field(primary_key=True, max_length=16)
    centre: str = Field(primary_key=True, max_length=32)
    stage: str = Field(primary_key=True, max_length=32)
    bucket: str = Field(primary_key=True, max_length=8)
    count: int
    taken_at: datetime = _ts()

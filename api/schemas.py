"""What the API returns: public shapes of the read model, separate from the tables."""

from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from clinical.clocks import ClockStatus
from clinical.finite import Finite
from models.state import StepOutcome
from models.vocab import Role, Stage


def as_utc(value: datetime) -> datetime:
    """Every instant the API returns carries its zone: SQLite hands back naive datetimes,
    stored as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UtcDateTime = Annotated[datetime, AfterValidator(as_utc)]


class PatientPublic(Finite):
    """Who the patient is; only for roles allowed to see identity."""

    nhs_number: str
    family_name: str
    given_name: str
    date_of_birth: date


class PathwayPublic(Finite):
    """One pathway in a list: where it is and what is next. ``patient`` is None for ops."""

    id: str
    centre: str
    stage: Stage
    stage_entered_at: UtcDateTime
    referred_at: UtcDateTime
    next_due_on: date | None
    overdue: bool
    treatment_number: int
    treatment_on: date | None
    exit_reason: str | None
    patient: PatientPublic | None = None


class PathwayPage(Finite):
    """A page of pathways with the total matching the filters."""

    items: list[PathwayPublic]
    total: int
    limit: int
    offset: int


class TaskPublic(Finite):
    """A human task of a pathway."""

    pathway_id: str
    id: str
    kind: str
    role: str
    title: str
    state: str
    opened_at: UtcDateTime
    due_on: date
    not_before: date | None
    overdue: bool
    closed_at: UtcDateTime | None
    detail: str | None
    visit_id: str | None


class VisitPublic(Finite):
    """A scheduled follow-up visit."""

    id: str
    code: str
    kind: str
    treatment_number: int
    due_on: date
    window_days: int
    state: str
    recorded_on: date | None


class StageChangePublic(Finite):
    """One entry of the stage history."""

    ordinal: int
    stage: Stage
    entered_at: UtcDateTime
    reason: str | None


class OutcomePublic(Finite):
    """A recorded clinical fact with its submitted values."""

    id: str
    kind: str
    recorded_at: UtcDateTime
    data: dict[str, Any]


class PathwayDetail(PathwayPublic):
    """A pathway's timeline: its stages, tasks, visits and recorded outcomes."""

    cumulative_lung_dose_gy: float
    history: list[StageChangePublic]
    tasks: list[TaskPublic]
    visits: list[VisitPublic]
    outcomes: list[OutcomePublic]
    clocks: list[ClockStatus] = Field(
        default=[], description="Waiting-time clocks still running (before treatment)."
    )


class WorklistItem(TaskPublic):
    """An open task on a worklist, with the step that completes it and any snooze."""

    stage: Stage
    step: str | None = Field(description="The step (URL slug) that completes this task.")
    snoozed_until: UtcDateTime | None = None
    patient: PatientPublic | None = None
    days_overdue: int = Field(default=0, description="Days since the due date (0 if not yet).")
    clocks: list[ClockStatus] = Field(
        default=[], description="The pathway's running waiting-time clocks."
    )


class LaterTasks(Finite):
    """A patient's open tasks beyond the horizon, collapsed under the patient's row."""

    pathway_id: str
    tasks: int
    next_due_on: date


class Worklist(Finite):
    """Actionable open tasks (due within the horizon, or overdue), overdue first, then by due
    date; snoozed ones at the bottom. Later tasks of the same patients are only counted."""

    role: Role | None = Field(description="The role whose tasks these are; None for the team.")
    horizon_days: int = 14
    total: int = Field(default=0, description="Actionable tasks, snoozed included (as /ops).")
    items: list[WorklistItem]
    later: list[LaterTasks] = []


class ReferralAccepted(Finite):
    """A started pathway: its pseudonymous id and where it is."""

    pathway_id: str
    stage: Stage | None = Field(description="None if the read model has not caught up yet.")


class StepResult(StepOutcome):
    """The pathway after a step was accepted: its stage, open tasks and the record made."""


class SnoozeRequest(Finite):
    """Snooze a task on my worklist for some days."""

    days: int = Field(default=1, ge=1, le=90)


class SnoozeResult(Finite):
    """Until when the task stays at the bottom of my worklist."""

    pathway_id: str
    task_id: str
    snoozed_until: UtcDateTime


class WithdrawRequest(Finite):
    """Withdraw the patient; recorded as an unscheduled event of kind withdrawal."""

    occurred_on: date
    reason: str = Field(min_length=1, max_length=2000)


class StageCount(Finite):
    """How many pathways are in one stage, and how many of them are overdue."""

    stage: Stage
    pathways: int
    overdue: int


class Stats(Finite):
    """Aggregate counts, with no patient data."""

    total: int
    overdue: int
    by_stage: list[StageCount]


class AuditEventPublic(Finite):
    """One audit event."""

    id: int
    at: UtcDateTime
    username: str
    role: str | None
    action: str
    pathway_id: str | None
    outcome: str
    detail: str | None


class AuditPage(Finite):
    """A page of audit events, newest first."""

    items: list[AuditEventPublic]
    limit: int
    offset: int

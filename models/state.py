"""The pathway's state as the workflow holds it, and what it sends to the read model."""

from datetime import date, datetime
from operator import attrgetter
from typing import Any

from pydantic import Field

from clinical.clocks import WaitingClock
from clinical.enums import ClockKind
from clinical.finite import Finite
from clinical.recist import Response
from models.config import PathwayConfig
from models.referral import PatientIdentity, Referral
from models.steps import DosimetryPlan, FollowUpVisitRecord, Labs, WorkupResult
from models.vocab import MessageKind, Role, Stage, TaskKind, TaskState, VisitState


class Task(Finite):
    """A human task the pathway waits for, with the alarms already fired."""

    id: str
    kind: TaskKind
    role: Role
    title: str
    opened_at: datetime
    due_on: date
    not_before: date | None = None
    state: TaskState = TaskState.OPEN
    overdue: bool = False
    fired: list[str] = Field(default_factory=list)
    closed_at: datetime | None = None
    detail: str | None = None
    visit_id: str | None = None

    @property
    def is_open(self) -> bool:
        """Still waiting for someone."""
        return self.state == TaskState.OPEN


class Visit(Finite):
    """A scheduled follow-up visit of one treatment."""

    id: str
    code: str
    kind: str
    treatment_number: int
    due_on: date
    window_days: int
    state: VisitState = VisitState.SCHEDULED
    task_id: str
    recorded_on: date | None = None


class StageChange(Finite):
    """One entry of the stage history; ``ordinal`` is its place in it."""

    ordinal: int
    stage: Stage
    at: datetime
    reason: str | None = None


class ClockBreach(Finite):
    """A waiting-time clock still running past its target: announced once, as it happens."""

    key: str = Field(description="The clock's key in the state, e.g. '62-day#1'.")
    kind: ClockKind
    started_on: date
    target_days: int
    breach_date: date = Field(description="The last day on which treatment met the standard.")
    paused_days: int


_due_on = attrgetter("due_on")


class PathwayState(Finite):
    """Everything the workflow needs to carry on, and nothing identifying the patient."""

    pathway_id: str
    centre: str
    stage: Stage
    stage_entered_at: datetime
    referred_at: datetime
    seq: int = 0
    history: list[StageChange] = Field(default_factory=list)
    tasks: dict[str, Task] = Field(default_factory=dict)
    visits: dict[str, Visit] = Field(default_factory=dict)
    task_counter: int = 0
    outcome_counter: int = 0
    treatment_number: int = 0
    workup_on: date | None = None
    workup: WorkupResult | None = None
    plan: DosimetryPlan | None = None
    treatment_on: date | None = None
    delivered_lung_doses_gy: list[float] = Field(default_factory=list)
    consecutive_missed_visits: int = 0
    exit_reason: str | None = None
    baseline_labs: Labs | None = None
    visit_records: list[FollowUpVisitRecord] = Field(
        default_factory=list, description="This treatment's visits: RECIST needs the nadir."
    )
    responses: list[Response] = Field(default_factory=list, description="RECIST per visit.")
    best_response: Response | None = None
    clocks: dict[str, WaitingClock] = Field(
        default_factory=dict, description="Waiting-time clocks by key, e.g. '31-day#1'."
    )
    referral_missing: list[str] = Field(
        default_factory=list,
        description="Required referral items not yet received (triage may supply them).",
    )
    breached_clocks: list[str] = Field(
        default_factory=list, description="Keys of the clocks whose breach was announced."
    )

    @property
    def open_tasks(self) -> list[Task]:
        """Open tasks, earliest due first."""
        # Asked many times a step, in the workflow sandbox: a list, not a generator of
        # is_open calls.
        return sorted([t for t in self.tasks.values() if t.state == TaskState.OPEN], key=_due_on)

    @property
    def next_due_on(self) -> date | None:
        """The earliest due date of an open task."""
        tasks = self.open_tasks
        return tasks[0].due_on if tasks else None

    @property
    def overdue(self) -> bool:
        """Whether any open task is past its due date."""
        return any(t.overdue for t in self.open_tasks)

    @property
    def cumulative_lung_dose_gy(self) -> float:
        """Lung dose delivered over all treatments so far."""
        return sum(self.delivered_lung_doses_gy)


class PathwayInput(Finite):
    """The workflow's single argument. ``carried`` is set when follow-up continues-as-new."""

    pathway_id: str
    centre: str
    referral: Referral
    config: PathwayConfig = Field(default_factory=PathwayConfig)
    carried: PathwayState | None = None
    resubmit_registry: bool = Field(
        default=False,
        description="A registry submission was still in flight when the last run continued "
        "as new; the new run starts it again.",
    )


class PathwaySummary(Finite):
    """The pathway row of the read model."""

    stage: Stage
    stage_entered_at: datetime
    referred_at: datetime
    centre: str
    next_due_on: date | None
    overdue: bool
    treatment_number: int
    treatment_on: date | None
    cumulative_lung_dose_gy: float
    exit_reason: str | None
    best_response: str | None = None


class OutcomeRecord(Finite):
    """A recorded clinical fact (decision, plan, visit outcome), kept as JSON."""

    id: str
    kind: str
    recorded_at: datetime
    data: dict[str, Any]


class OutboxMessage(Finite):
    """A notification for a role, delivered later by the notification loop."""

    id: str
    recipient_role: Role
    kind: MessageKind
    task_id: str | None
    due_on: date | None
    subject: str
    send_at: datetime = Field(description="When it is meant to go: the alarm's exact time.")
    created_at: datetime


class ProjectionBatch(Finite):
    """What changed at one step, applied to the read model in one transaction.

    Keyed by (pathway_id, seq): applying the same batch twice changes nothing.
    """

    pathway_id: str
    seq: int
    at: datetime
    summary: PathwaySummary
    patient: PatientIdentity | None = None
    stage_changes: list[StageChange] = Field(default_factory=list)
    tasks: list[Task] = Field(default_factory=list)
    visits: list[Visit] = Field(default_factory=list)
    outcomes: list[OutcomeRecord] = Field(default_factory=list)
    outbox: list[OutboxMessage] = Field(default_factory=list)
    clocks: dict[str, WaitingClock] = Field(default_factory=dict)
    clock_breaches: list[ClockBreach] = Field(default_factory=list)


class OpenTask(Finite):
    """An open task as a step's caller sees it."""

    id: str
    kind: TaskKind
    role: Role
    title: str
    due_on: date
    overdue: bool = False


class StepOutcome(Finite):
    """What an Update returns: enough for its caller, not the whole state.

    The result is stored (encrypted) in history on every step; the whole state was most of a
    five-year history's bytes. The full state stays available as the ``state`` Query.
    """

    pathway_id: str
    stage: Stage
    seq: int
    next_due_on: date | None
    open_tasks: list[OpenTask]
    record_id: str | None = Field(default=None, description="The fact this step recorded.")

    @classmethod
    def of(cls, state: PathwayState, record_id: str | None) -> "StepOutcome":
        """The outcome of a step that left the pathway in ``state``."""
        return cls(
            pathway_id=state.pathway_id,
            stage=state.stage,
            seq=state.seq,
            next_due_on=state.next_due_on,
            open_tasks=[OpenTask.model_validate(t, from_attributes=True) for t in state.open_tasks],
            record_id=record_id,
        )

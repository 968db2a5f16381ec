"""A pathway being changed by one transition: its state, its context and what it emits.

Everything here is pure and deterministic: "now" and the configuration come in through
``Context``, so a transition gives the same result in the Update's validator, in its handler
and on replay. The workflow imports this package through the sandbox once per worker.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from temporalio.exceptions import ApplicationError

from clinical.clocks import WaitingClock
from clinical.enums import ClockKind
from models.catalogue import BY_UPDATE, TASKS
from models.config import PathwayConfig
from models.state import (
    ClockBreach,
    OutboxMessage,
    OutcomeRecord,
    PathwayState,
    StageChange,
    Task,
    Visit,
)
from models.steps import ScheduleProcedure
from models.vocab import MessageKind, Role, Stage, TaskKind, TaskState, VisitState
from workflows.alarms import Clock
from workflows.follow_up import visit_due_on


def refuse(message: str, kind: str = "InvalidStep") -> ApplicationError:
    """An Update refusal; the message starts with the field it is about."""
    return ApplicationError(message, type=kind, non_retryable=True)


def first_error(exc: ValueError) -> str:
    """The first message of a pydantic ValidationError (or the error itself)."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        return str(errors()[0]["msg"]).removeprefix("Value error, ")
    return str(exc)


def stop_clock(clock: WaitingClock, on: date) -> WaitingClock:
    """Stop a clock at treatment; a pause still running ends that day."""
    pauses = clock.pauses
    if pauses and pauses[-1].end is None:
        pauses = (*pauses[:-1], pauses[-1].model_copy(update={"end": on}))
    return WaitingClock(kind=clock.kind, start=clock.start, stop=on, pauses=pauses)


@dataclass(frozen=True)
class Context:
    """What a transition may know besides the state: the time and the pathway's settings."""

    now: datetime
    config: PathwayConfig
    clock: Clock
    # Doses derived from the recorded inputs (and refused on disagreement). False only when
    # a history recorded before that rule is replayed (the workflow's patch marker says).
    derived_dosimetry: bool = True
    # Running clocks announce their breach (an alarm of their own). False while replaying a
    # run recorded before breaches were announced: its timers must come back the same.
    clock_breaches: bool = True

    @property
    def today(self) -> date:
        """The centre's date now."""
        return self.clock.today(self.now)


@dataclass
class Effects:
    """What a transition changed, for the next commit (read model, outbox, timers)."""

    dirty_tasks: set[str] = field(default_factory=set)
    dirty_visits: set[str] = field(default_factory=set)
    stage_changes: list[StageChange] = field(default_factory=list)
    outcomes: list[OutcomeRecord] = field(default_factory=list)
    outbox: list[OutboxMessage] = field(default_factory=list)
    clocks_dirty: bool = False
    clock_breaches: list[ClockBreach] = field(default_factory=list)
    wake: bool = False  # the main loop must look at its alarms again

    def add(self, other: "Effects") -> None:
        """Queue ``other``'s changes after this one's."""
        self.dirty_tasks |= other.dirty_tasks
        self.dirty_visits |= other.dirty_visits
        self.stage_changes += other.stage_changes
        self.outcomes += other.outcomes
        self.outbox += other.outbox
        self.clocks_dirty |= other.clocks_dirty
        self.clock_breaches += other.clock_breaches
        self.wake |= other.wake

    @property
    def record_id(self) -> str | None:
        """The id of the last fact recorded (a step records its own last)."""
        return self.outcomes[-1].id if self.outcomes else None


class Working:
    """The state a transition changes in place, with the helpers steps share."""

    def __init__(self, state: PathwayState, ctx: Context) -> None:
        self.state = state
        self.ctx = ctx
        self.config = ctx.config
        self.effects = Effects()

    # ------------------------------------------------------------ checks

    def require_stage(self, stages: Iterable[Stage]) -> None:
        """Refuse unless the pathway is in one of ``stages``."""
        stages = tuple(stages)
        stage = self.state.stage
        if stage in stages:
            return
        if stage.is_terminal:
            raise refuse(f"stage: the pathway has ended ({stage})", "WrongStage")
        allowed = " or ".join(stages)
        raise refuse(f"stage: the pathway is in {stage}; this step needs {allowed}", "WrongStage")

    def not_in_future(self, name: str, value: date) -> None:
        """Refuse a date after the centre's today."""
        if value > self.ctx.today:
            raise refuse(f"{name}: {value} is in the future")

    def bookable(self, name: str, value: date) -> None:
        """Refuse a booking in the past or too far ahead."""
        today = self.ctx.today
        if value < today:
            raise refuse(f"{name}: {value} is in the past")
        limit = self.config.max_booking_ahead_days
        if value > today + timedelta(days=limit):
            raise refuse(f"{name}: {value} is more than {limit} days ahead")

    def not_before_workup(self, name: str, value: date) -> None:
        """Refuse a date before the work-up."""
        workup_on = self.state.workup_on
        if workup_on is not None and value < workup_on:
            raise refuse(f"{name}: {value} is before the work-up ({workup_on})")

    # ------------------------------------------------------------ lookups

    def open_task_of(self, kind: TaskKind) -> Task | None:
        """The open task of ``kind``, if any."""
        return next((t for t in self.state.open_tasks if t.kind == kind), None)

    def current_visits(self) -> list[Visit]:
        """The visits of the latest treatment."""
        n = self.state.treatment_number
        return [v for v in self.state.visits.values() if v.treatment_number == n]

    def scheduled_visit(self, code: str) -> Visit | None:
        """The latest treatment's visit ``code`` if it is still to be recorded."""
        return next(
            (
                v
                for v in self.current_visits()
                if v.code == code and v.state == VisitState.SCHEDULED
            ),
            None,
        )

    def running_clock(self, kind: ClockKind) -> tuple[str, WaitingClock]:
        """The running waiting-time clock of ``kind``, or a refusal naming ``kind``."""
        for key, clock in self.state.clocks.items():
            if clock.kind == kind and clock.stop is None:
                return key, clock
        raise refuse(f"kind: no running {kind} clock on this pathway")

    # ------------------------------------------------------------ changes

    def enter(self, stage: Stage, reason: str) -> None:
        """Move to ``stage``."""
        st = self.state
        change = StageChange(ordinal=len(st.history), stage=stage, at=self.ctx.now, reason=reason)
        st.stage = stage
        st.stage_entered_at = change.at
        st.history.append(change)
        self.effects.stage_changes.append(change)
        self.effects.wake = True

    def exit(self, stage: Stage, reason: str) -> None:
        """End the pathway: every open task and pending visit is cancelled."""
        self.cancel_follow_up(reason)
        for task in self.state.open_tasks:
            self.close(task, TaskState.CANCELLED)
        # An untreated patient leaves the waiting list: their clocks end with the pathway.
        for key, clock in self.state.clocks.items():
            if clock.stop is None:
                self.state.clocks[key] = stop_clock(clock, self.ctx.today)
                self.effects.clocks_dirty = True
        self.state.exit_reason = reason
        self.enter(stage, reason)

    def cancel_follow_up(self, reason: str) -> None:
        """Cancel the visits still to come (and their tasks)."""
        for visit in self.current_visits():
            if visit.state == VisitState.SCHEDULED:
                visit.state = VisitState.CANCELLED
                self.effects.dirty_visits.add(visit.id)
                self.close(self.state.tasks[visit.task_id], TaskState.CANCELLED)

    def open_task(
        self,
        kind: TaskKind,
        *,
        due_on: date | None = None,
        detail: str | None = None,
        visit: Visit | None = None,
    ) -> Task:
        """Open a task of ``kind`` for the role the configuration gives it."""
        st = self.state
        st.task_counter += 1
        policy = self.config.steps[kind]
        now = self.ctx.now
        task = Task(
            id=f"{kind.value}-{st.task_counter}",
            kind=kind,
            role=policy.role,
            title=TASKS[kind].title + (f" {visit.code}" if visit else ""),
            opened_at=now,
            due_on=due_on or self.ctx.clock.shift(self.ctx.clock.today(now), policy.due_days),
            detail=detail,
        )
        if visit is not None:
            task.visit_id = visit.id
            task.not_before = visit.due_on - timedelta(days=visit.window_days)
        st.tasks[task.id] = task
        self.effects.dirty_tasks.add(task.id)
        self.effects.wake = True
        return task

    def move_task(self, task: Task, due_on: date, visit: Visit | None = None) -> None:
        """Re-date a task; its alarms start afresh from the new date."""
        task.due_on = due_on
        task.fired = []
        task.overdue = False
        if visit is not None:
            task.not_before = due_on - timedelta(days=visit.window_days)
        self.effects.dirty_tasks.add(task.id)
        self.effects.wake = True

    def close(self, task: Task, state: TaskState = TaskState.DONE) -> None:
        """Close ``task`` as done (or missed, or cancelled)."""
        task.state = state
        task.closed_at = self.ctx.now
        self.effects.dirty_tasks.add(task.id)
        self.effects.wake = True

    def book(self, d: ScheduleProcedure, booking: TaskKind, recording: TaskKind) -> None:
        """Close the booking task and open (or move) the task to record the procedure."""
        task = self.open_task_of(booking)
        if task is not None:
            self.close(task)
        due = self.ctx.clock.shift(d.scheduled_on, self.config.steps[recording].due_days)
        existing = self.open_task_of(recording)
        if existing is None:
            self.open_task(recording, due_on=due)
        else:
            self.move_task(existing, due)
        self.record(f"{booking.value}", d)

    def request_missing(self, task: Task, missing: Iterable[str]) -> None:
        """Re-request missing referral items from the referrer; the triage clock restarts."""
        items = ", ".join(missing)
        task.detail = f"missing: {items}"
        policy = self.config.steps[task.kind]
        self.move_task(task, self.ctx.clock.shift(self.ctx.today, policy.due_days))
        subject = f"Referral for pathway {self.state.pathway_id} incomplete; please send: {items}"
        # Keyed by the triage record just made, so each re-request is one message.
        key = f"request:{self.state.outcome_counter}"
        self.message(task, MessageKind.REQUEST, Role.REFERRER, subject, key)

    def schedule_visits(self, anchor: date) -> None:
        """Schedule the follow-up visits of the latest treatment from ``anchor``."""
        st = self.state
        for spec in self.config.follow_up:
            visit_id = f"t{st.treatment_number}-{spec.code}"
            visit = Visit(
                id=visit_id,
                code=spec.code,
                kind=spec.kind,
                treatment_number=st.treatment_number,
                due_on=self.ctx.clock.on_or_after(visit_due_on(anchor, spec)),
                window_days=spec.window_days,
                task_id="",
            )
            task = self.open_task(TaskKind.FOLLOW_UP_VISIT, due_on=visit.due_on, visit=visit)
            visit.task_id = task.id
            st.visits[visit_id] = visit
            self.effects.dirty_visits.add(visit_id)

    def start_clock(self, kind: ClockKind, start: date, treatment_number: int) -> None:
        """Start a waiting-time clock the centre runs, once per treatment."""
        key = f"{kind}#{treatment_number}"
        if kind in self.config.clocks and key not in self.state.clocks:
            self.state.clocks[key] = WaitingClock(kind=kind, start=start)
            self.effects.clocks_dirty = True
            self.effects.wake = self.effects.wake or self.ctx.clock_breaches

    def record(self, kind: str, payload: Any, exclude: set[str] | None = None, **extra: Any) -> str:
        """Queue a recorded fact for the read model; returns its id."""
        st = self.state
        st.outcome_counter += 1
        outcome_id = f"o{st.outcome_counter}"
        data = payload.model_dump(mode="json", exclude=exclude)
        data.update(extra)
        self.effects.outcomes.append(
            OutcomeRecord(id=outcome_id, kind=kind, recorded_at=self.ctx.now, data=data)
        )
        return outcome_id

    def message(
        self,
        task: Task,
        kind: MessageKind,
        role: Role,
        subject: str,
        key: str,
        send_at: datetime | None = None,
    ) -> None:
        """Queue a notification about ``task`` (its id makes a retried commit send it once)."""
        now = self.ctx.now
        self.effects.outbox.append(
            OutboxMessage(
                id=f"{self.state.pathway_id}:{task.id}:{key}",
                recipient_role=role,
                kind=kind,
                task_id=task.id,
                due_on=task.due_on,
                subject=subject,
                send_at=send_at or now,
                created_at=now,
            )
        )


def require_step_stage(w: Working, update: str) -> None:
    """Refuse a step outside the stages the catalogue gives it."""
    w.require_stage(BY_UPDATE[update].stages)

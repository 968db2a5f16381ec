"""PatientPathwayWorkflow: one per pathway, the source of truth for its state and its time.

Human steps arrive as Updates whose validators refuse bad input before it reaches history.
Each handler changes the state and commits it (read-model projection, search attributes)
before returning, so a caller that sees the Update complete also sees the read model agree.
The main loop only sleeps until the next alarm (reminder, overdue, escalation, timeout).
"""

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.projection import ProjectionActivities
    from clinical.clocks import ClockPause, WaitingClock
    from clinical.enums import ClockKind
    from clinical.errors import ClinicalRuleError
    from clinical.liver_toxicity import braat_grade
    from clinical.plan_check import refusal_message
    from clinical.recist import best_overall_response
    from core.calendar import WorkingCalendar
    from models.config import PathwayConfig
    from models.state import (
        OutboxMessage,
        OutcomeRecord,
        PathwayInput,
        PathwayState,
        PathwaySummary,
        ProjectionBatch,
        StageChange,
        Task,
        Visit,
    )
    from models.steps import (
        AmendTreatmentDate,
        ClockPauseRequest,
        ClockResume,
        DosimetryPlan,
        FollowUpVisitRecord,
        LtfuReview,
        MdtDecision,
        MdtOutcome,
        ReildReview,
        ScheduleProcedure,
        TaskClosure,
        TreatmentRecord,
        TriageDecision,
        UnscheduledEvent,
        WorkupResult,
    )
    from models.vocab import (
        MessageKind,
        Role,
        Stage,
        TaskKind,
        TaskState,
        TimeoutAction,
        VisitState,
    )
    from registry.activity import RegistryActivities, RegistrySubmissionInput
    from workflows.alarms import Alarm, AlarmKind, Clock, alarms_for, start_of
    from workflows.clinical_checks import (
        delivery_assessment,
        mdt_flags,
        mdt_refusal,
        plan_assessment,
        response_of,
        visit_results,
    )
    from workflows.follow_up import visit_due_on

STAGE_KEY = SearchAttributeKey.for_keyword("PathwayStage")
NEXT_DUE_KEY = SearchAttributeKey.for_datetime("NextDueAt")
OVERDUE_KEY = SearchAttributeKey.for_bool("Overdue")
CENTRE_KEY = SearchAttributeKey.for_keyword("Centre")
SEARCH_ATTRIBUTES: tuple[SearchAttributeKey[Any], ...] = (
    STAGE_KEY,
    NEXT_DUE_KEY,
    OVERDUE_KEY,
    CENTRE_KEY,
)

# Continue-as-new used to wait for in-flight registry submissions, which held every alarm for
# as long as the registry was down (up to a week); runs with this marker hand them on instead.
_CAN_WITHOUT_REGISTRY_WAIT = "continue-as-new-without-waiting-for-registry"

# A registry outage must not hold up the pathway: submissions run beside it and retry for a
# week; the nightly job resubmits anything that still differs.
_REGISTRY_RETRY = RetryPolicy(
    initial_interval=timedelta(minutes=1),
    maximum_interval=timedelta(hours=6),
    non_retryable_error_types=["RegistryConfigError"],
)

# Projection must never be lost: retry until the database is back, however long that takes.
_PROJECTION_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1)
)

_TITLES = {
    TaskKind.TRIAGE_REFERRAL: "Triage the referral",
    TaskKind.MDT_DECISION: "MDT selection decision",
    TaskKind.SCHEDULE_WORKUP: "Book the work-up angiography",
    TaskKind.RECORD_WORKUP: "Record the work-up angiography",
    TaskKind.DOSIMETRY_PLAN: "Dosimetry plan and physicist sign-off",
    TaskKind.SCHEDULE_TREATMENT: "Book the SIRT treatment",
    TaskKind.RECORD_TREATMENT: "Record the SIRT treatment",
    TaskKind.FOLLOW_UP_VISIT: "Follow-up visit",
    TaskKind.CHASE_MISSED_VISIT: "Chase a missed follow-up visit",
    TaskKind.LTFU_REVIEW: "Review: consecutive missed visits",
    TaskKind.REILD_REVIEW: "Review suspected REILD (Braat grade)",
}


def _first_error(exc: ValueError) -> str:
    """The first message of a pydantic ValidationError (or the error itself)."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        return str(errors()[0]["msg"]).removeprefix("Value error, ")
    return str(exc)


def _stop_clock(clock: WaitingClock, on: date) -> WaitingClock:
    """Stop a clock at treatment; a pause still running ends that day."""
    pauses = clock.pauses
    if pauses and pauses[-1].end is None:
        pauses = (*pauses[:-1], pauses[-1].model_copy(update={"end": on}))
    return WaitingClock(kind=clock.kind, start=clock.start, stop=on, pauses=pauses)


def _refuse(message: str, kind: str = "InvalidStep") -> ApplicationError:
    """An Update refusal; the message starts with the field it is about."""
    return ApplicationError(message, type=kind, non_retryable=True)


_P = TypeVar("_P", bound=BaseModel)


@dataclass
class _Working:
    """What a step may change: the state and what is queued for the next commit."""

    state: PathwayState
    wake: bool
    dirty_tasks: set[str]
    dirty_visits: set[str]
    stage_changes: list[StageChange]
    outcomes: list[OutcomeRecord]
    outbox: list[OutboxMessage]
    clocks_dirty: bool


def _cannot_apply(exc: Exception) -> ApplicationError:
    """A refusal for a step that raised: clinical rules say what is wrong in their message."""
    detail = str(exc) or type(exc).__name__
    kind = "ClinicalRule" if isinstance(exc, ClinicalRuleError) else "CannotApply"
    return _refuse(f"payload: cannot be recorded on this pathway: {detail}", kind)


@workflow.defn
class PatientPathwayWorkflow:
    """One patient's SIRT pathway from referral to the end of follow-up."""

    @workflow.init
    def __init__(self, inp: PathwayInput) -> None:
        self._input = inp
        self._config: PathwayConfig = inp.config
        calendar = inp.config.calendar
        self._clock = Clock(WorkingCalendar(calendar) if calendar else None)
        now = workflow.now()
        if inp.carried is not None:
            self._state = inp.carried
        else:
            self._state = PathwayState(
                pathway_id=inp.pathway_id,
                centre=inp.centre,
                stage=Stage.REFERRED,
                stage_entered_at=now,
                referred_at=now,
            )
        self._committed = self._state.model_copy(deep=True)
        self._lock = asyncio.Lock()
        self._wake = False
        self._dirty_tasks: set[str] = set()
        self._dirty_visits: set[str] = set()
        self._stage_changes: list[StageChange] = []
        self._outcomes: list[OutcomeRecord] = []
        self._outbox: list[OutboxMessage] = []
        self._clocks_dirty = False
        self._search_attributes: tuple[object, ...] = ()
        self._registry: list[asyncio.Task[Any]] = []

    # ---------------------------------------------------------------- main loop

    @workflow.run
    async def run(self, inp: PathwayInput) -> PathwayState:
        """Open the referral, then act on alarms until the pathway reaches an exit."""
        if inp.carried is None:
            await self._open_referral(inp)
        elif inp.resubmit_registry:
            self._submit_to_registry()
        while not self._state.stage.is_terminal:
            if self._fire_due_alarms():
                await self._commit()
            if self._follow_up_finished():
                self._enter(Stage.COMPLETED, "follow-up schedule finished")
                await self._commit()
                break
            if self._should_continue_as_new():
                await workflow.wait_condition(workflow.all_handlers_finished)
                resubmit = False
                if workflow.patched(_CAN_WITHOUT_REGISTRY_WAIT):
                    resubmit = self._cancel_registry_submissions()
                # Before the patch this waited for the registry; now it only collects the
                # cancellations, which try-cancel resolves at once.
                await asyncio.gather(*self._registry, return_exceptions=True)
                workflow.continue_as_new(
                    PathwayInput(
                        pathway_id=inp.pathway_id,
                        centre=inp.centre,
                        referral=inp.referral,
                        config=inp.config,
                        carried=self._state,
                        resubmit_registry=resubmit,
                    )
                )
            await self._sleep_until_next_alarm()
        await workflow.wait_condition(workflow.all_handlers_finished)
        await asyncio.gather(*self._registry, return_exceptions=True)
        return self._state

    async def _sleep_until_next_alarm(self) -> None:
        self._wake = False
        alarms = [a for t in self._state.open_tasks for a in self._alarms(t)[:1]]
        if not alarms:
            await workflow.wait_condition(lambda: self._wake)
            return
        delay = min(a.at for a in alarms) - workflow.now()
        # Due alarms fired just before, so delay is positive; a zero timeout is invalid.
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: self._wake, timeout=max(delay, timedelta(seconds=1))
            )

    def _should_continue_as_new(self) -> bool:
        if self._state.stage != Stage.FOLLOW_UP:
            return False
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() > self._config.max_history_events_per_run
        )

    def _follow_up_finished(self) -> bool:
        st = self._state
        if st.stage != Stage.FOLLOW_UP or st.open_tasks:
            return False
        return all(v.state != VisitState.SCHEDULED for v in self._current_visits())

    # ---------------------------------------------------------------- queries

    @workflow.query
    def state(self) -> PathwayState:
        """The pathway's state as last committed to the read model (no patient identifiers)."""
        return self._committed

    # ---------------------------------------------------------------- updates

    @workflow.update
    async def triage_referral(self, d: TriageDecision) -> PathwayState:
        """Accept the referral as complete, or re-request what is missing."""
        self._apply(self._triage_referral, d)
        return await self._commit()

    def _triage_referral(self, d: TriageDecision) -> None:
        task = self._open_task_of(TaskKind.TRIAGE_REFERRAL)
        assert task is not None
        self._record("triage", d)
        if d.complete:
            self._close(task)
            self._enter(Stage.MDT_REVIEW, "referral triaged complete")
            self._open_task(TaskKind.MDT_DECISION)
        else:
            self._request_missing(task, d.missing_items)

    @triage_referral.validator
    def _validate_triage(self, d: TriageDecision) -> None:
        self._require_stage(Stage.REFERRED)
        if self._open_task_of(TaskKind.TRIAGE_REFERRAL) is None:
            raise _refuse("stage: the referral has no open triage task")
        self._trial(self._triage_referral, d)

    @workflow.update
    async def record_mdt_decision(self, d: MdtDecision) -> PathwayState:
        """Record the MDT's decision; during follow-up, 'proceed' starts a repeat SIRT."""
        self._apply(self._record_mdt_decision, d)
        return await self._commit()

    def _record_mdt_decision(self, d: MdtDecision) -> None:
        st = self._state
        flags = mdt_flags(d, st.cumulative_lung_dose_gy, self._config.clinical)
        outcome_id = self._record(
            "mdt_decision", d, eligibility_flags=[f.model_dump(mode="json") for f in flags]
        )
        st.baseline_labs = d.labs
        if d.decision == MdtOutcome.PROCEED:
            # Decision to treat: the 31-day clock runs to the next treatment.
            self._start_clock(ClockKind.DAYS_31, d.meeting_date, st.treatment_number + 1)
        if st.stage == Stage.FOLLOW_UP:
            if d.decision == MdtOutcome.PROCEED:
                self._cancel_follow_up("repeat SIRT decided by MDT")
                self._enter(Stage.WORKUP, f"repeat SIRT decided (outcome {outcome_id})")
                self._open_task(TaskKind.SCHEDULE_WORKUP)
            return
        task = self._open_task_of(TaskKind.MDT_DECISION)
        if task is not None:
            self._close(task)
        if d.decision == MdtOutcome.PROCEED:
            self._enter(Stage.WORKUP, "MDT: proceed to work-up")
            self._open_task(TaskKind.SCHEDULE_WORKUP)
        elif d.decision == MdtOutcome.NOT_SUITABLE:
            self._exit(Stage.NOT_SUITABLE, f"MDT: not suitable: {d.reason}")
        elif d.decision == MdtOutcome.ALTERNATIVE:
            self._exit(Stage.ALTERNATIVE_TREATMENT, f"MDT: {d.alternative_treatment}")
        else:
            self._open_task(
                TaskKind.MDT_DECISION, detail="re-discuss; needs: " + ", ".join(d.missing_items)
            )

    @record_mdt_decision.validator
    def _validate_mdt(self, d: MdtDecision) -> None:
        self._require_stage(Stage.MDT_REVIEW, Stage.FOLLOW_UP)
        self._not_in_future("meeting_date", d.meeting_date)
        flags = mdt_flags(d, self._state.cumulative_lung_dose_gy, self._config.clinical)
        refusal = mdt_refusal(d, flags)
        if refusal:
            raise _refuse(refusal, "Contraindication")
        self._trial(self._record_mdt_decision, d)

    @workflow.update
    async def schedule_workup(self, d: ScheduleProcedure) -> PathwayState:
        """Book (or re-book) the work-up angiography."""
        self._apply(self._schedule_workup, d)
        return await self._commit()

    def _schedule_workup(self, d: ScheduleProcedure) -> None:
        self._book(d, TaskKind.SCHEDULE_WORKUP, TaskKind.RECORD_WORKUP)
        self._state.workup_on = d.scheduled_on

    @schedule_workup.validator
    def _validate_schedule_workup(self, d: ScheduleProcedure) -> None:
        self._require_stage(Stage.WORKUP)
        self._bookable("scheduled_on", d.scheduled_on)
        self._trial(self._schedule_workup, d)

    @workflow.update
    async def record_workup(self, d: WorkupResult) -> PathwayState:
        """Record the work-up; unresolved extrahepatic uptake goes back to the MDT."""
        self._apply(self._record_workup, d)
        return await self._commit()

    def _record_workup(self, d: WorkupResult) -> None:
        task = self._open_task_of(TaskKind.RECORD_WORKUP)
        assert task is not None
        self._close(task)
        self._record("workup", d)
        self._state.workup = d
        self._state.workup_on = d.performed_on
        unresolved = d.unresolved_uptake
        if unresolved:
            sites = ", ".join(unresolved)
            self._enter(Stage.MDT_REVIEW, f"unresolved extrahepatic uptake: {sites}")
            self._open_task(TaskKind.MDT_DECISION, detail=f"extrahepatic uptake: {sites}")
        else:
            self._enter(Stage.DOSIMETRY_PLANNING, "work-up recorded")
            self._open_task(TaskKind.DOSIMETRY_PLAN)

    @record_workup.validator
    def _validate_record_workup(self, d: WorkupResult) -> None:
        self._require_stage(Stage.WORKUP)
        if self._open_task_of(TaskKind.RECORD_WORKUP) is None:
            raise _refuse("scheduled_on: book the work-up before recording it")
        self._not_in_future("performed_on", d.performed_on)
        self._trial(self._record_workup, d)

    @workflow.update
    async def record_dosimetry_plan(self, d: DosimetryPlan) -> PathwayState:
        """Record the signed-off dosimetry plan; treatment can then be booked."""
        self._apply(self._record_dosimetry_plan, d)
        return await self._commit()

    def _record_dosimetry_plan(self, d: DosimetryPlan) -> None:
        task = self._open_task_of(TaskKind.DOSIMETRY_PLAN)
        assert task is not None
        self._close(task)
        st = self._state
        assert st.workup is not None
        checked = plan_assessment(d, st.workup, st.delivered_lung_doses_gy, self._config.clinical)
        self._record(
            "dosimetry_plan",
            d,
            overridden_limits=[v.model_dump(mode="json") for v in checked.limit_refusals],
            computed_doses=checked.doses.model_dump(mode="json") if checked.doses else None,
        )
        self._state.plan = d
        self._enter(Stage.TREATMENT_SCHEDULED, "dosimetry plan signed off")
        self._open_task(TaskKind.SCHEDULE_TREATMENT)

    @record_dosimetry_plan.validator
    def _validate_plan(self, d: DosimetryPlan) -> None:
        self._require_stage(Stage.DOSIMETRY_PLANNING)
        workup = self._state.workup
        assert workup is not None
        unknown = [p.position for p in d.positions if p.position not in workup.injection_positions]
        if unknown:
            raise _refuse(
                f"positions: {', '.join(unknown)} not among the work-up injection positions "
                f"({', '.join(workup.injection_positions)})"
            )
        self._not_in_future("physicist_signoff.signed_on", d.physicist_signoff.signed_on)
        st = self._state
        checked = plan_assessment(d, workup, st.delivered_lung_doses_gy, self._config.clinical)
        overridable = self._config.allow_dosimetry_override and not checked.hard_refusals
        if checked.refusals and not (overridable and d.override_reason):
            hint = "; a physicist may override with override_reason" if overridable else ""
            raise _refuse(refusal_message(checked.refusals) + hint, "UnsafePlan")
        self._trial(self._record_dosimetry_plan, d)

    @workflow.update
    async def schedule_treatment(self, d: ScheduleProcedure) -> PathwayState:
        """Book (or re-book) the SIRT treatment."""
        self._apply(self._schedule_treatment, d)
        return await self._commit()

    def _schedule_treatment(self, d: ScheduleProcedure) -> None:
        self._book(d, TaskKind.SCHEDULE_TREATMENT, TaskKind.RECORD_TREATMENT)

    @schedule_treatment.validator
    def _validate_schedule_treatment(self, d: ScheduleProcedure) -> None:
        self._require_stage(Stage.TREATMENT_SCHEDULED)
        self._bookable("scheduled_on", d.scheduled_on)
        self._trial(self._schedule_treatment, d)

    @workflow.update
    async def record_treatment(self, d: TreatmentRecord) -> PathwayState:
        """Record the delivery; follow-up visits are scheduled from its date."""
        self._apply(self._record_treatment, d)
        return await self._commit_and_submit()

    def _record_treatment(self, d: TreatmentRecord) -> None:
        st = self._state
        task = self._open_task_of(TaskKind.RECORD_TREATMENT)
        assert task is not None and st.plan is not None and st.workup is not None
        self._close(task)
        cfg = self._config.clinical
        delivery = delivery_assessment(d, st.plan, st.workup, st.delivered_lung_doses_gy, cfg)
        lung_dose = delivery.lung_gy  # computed from the delivered activity, never typed
        st.delivered_lung_doses_gy.append(round(lung_dose, 2))
        st.treatment_number += 1
        st.treatment_on = d.performed_on
        st.consecutive_missed_visits = 0
        st.visit_records = []
        for key, clock in st.clocks.items():
            if key.endswith(f"#{st.treatment_number}") and clock.stop is None:
                st.clocks[key] = _stop_clock(clock, d.performed_on)
                self._clocks_dirty = True
        self._record(
            "treatment",
            d,
            delivered_lung_dose_gy=round(lung_dose, 2),
            overridden_limits=[v.model_dump(mode="json") for v in delivery.refusals],
        )
        self._enter(Stage.FOLLOW_UP, f"treatment {st.treatment_number} delivered")
        self._schedule_visits(d.performed_on)

    @record_treatment.validator
    def _validate_record_treatment(self, d: TreatmentRecord) -> None:
        self._require_stage(Stage.TREATMENT_SCHEDULED)
        if self._open_task_of(TaskKind.RECORD_TREATMENT) is None:
            raise _refuse("scheduled_on: book the treatment before recording it")
        self._not_in_future("performed_on", d.performed_on)
        self._not_before_workup("performed_on", d.performed_on)
        plan = self._state.plan
        assert plan is not None
        planned = {p.position for p in plan.positions}
        unknown = [p.position for p in d.positions if p.position not in planned]
        if unknown:
            raise _refuse(f"positions: {', '.join(unknown)} not in the dosimetry plan")
        assert self._state.workup is not None
        delivery = delivery_assessment(
            d, plan, self._state.workup, self._state.delivered_lung_doses_gy, self._config.clinical
        )
        if delivery.refusals and not d.excess_activity_reason:
            hint = "; to record it, give excess_activity_reason"
            raise _refuse(refusal_message(delivery.refusals) + hint, "UnsafeDelivery")
        self._trial(self._record_treatment, d)

    @workflow.update
    async def amend_treatment_date(self, d: AmendTreatmentDate) -> PathwayState:
        """Correct the treatment date; every pending visit moves with it."""
        self._apply(self._amend_treatment_date, d)
        return await self._commit_and_submit()

    def _amend_treatment_date(self, d: AmendTreatmentDate) -> None:
        self._state.treatment_on = d.performed_on
        self._record("treatment_date_amended", d)
        for visit in self._current_visits():
            if visit.state == VisitState.SCHEDULED:
                spec = next(s for s in self._config.follow_up if s.code == visit.code)
                visit.due_on = self._clock.on_or_after(visit_due_on(d.performed_on, spec))
                self._dirty_visits.add(visit.id)
                self._move_task(self._state.tasks[visit.task_id], visit.due_on, visit)

    @amend_treatment_date.validator
    def _validate_amend(self, d: AmendTreatmentDate) -> None:
        self._require_stage(Stage.FOLLOW_UP)
        self._not_in_future("performed_on", d.performed_on)
        self._not_before_workup("performed_on", d.performed_on)
        self._trial(self._amend_treatment_date, d)

    @workflow.update
    async def record_follow_up_visit(self, d: FollowUpVisitRecord) -> PathwayState:
        """Record the outcomes of one scheduled visit."""
        self._apply(self._record_follow_up_visit, d)
        return await self._commit_and_submit()

    def _record_follow_up_visit(self, d: FollowUpVisitRecord) -> None:
        visit = self._scheduled_visit(d.visit_code)
        assert visit is not None
        visit.state = VisitState.DONE
        visit.recorded_on = d.visit_date
        self._dirty_visits.add(visit.id)
        self._close(self._state.tasks[visit.task_id])
        st = self._state
        st.consecutive_missed_visits = 0
        assert st.treatment_on is not None
        results = visit_results(
            d,
            treated_on=st.treatment_on,
            baseline_labs=st.baseline_labs,
            workup=st.workup,
            earlier=st.visit_records,
            config=self._config.clinical,
        )
        st.visit_records.append(d)
        response = response_of(results)
        if response is not None:
            st.responses.append(response)
            st.best_response = best_overall_response(st.responses)
        self._record("follow_up_visit", d, visit_id=visit.id, derived=results)
        reild = results.get("reild")
        if reild and reild["present"] and self._open_task_of(TaskKind.REILD_REVIEW) is None:
            self._open_task(TaskKind.REILD_REVIEW, detail=reild["reason"])

    @record_follow_up_visit.validator
    def _validate_visit(self, d: FollowUpVisitRecord) -> None:
        self._require_stage(Stage.FOLLOW_UP)
        visit = self._scheduled_visit(d.visit_code)
        if visit is None:
            pending = [v.code for v in self._current_visits() if v.state == VisitState.SCHEDULED]
            raise _refuse(
                f"visit_code: no scheduled visit {d.visit_code!r}; "
                f"pending: {', '.join(pending) or 'none'}"
            )
        self._not_in_future("visit_date", d.visit_date)
        opens = visit.due_on - timedelta(days=visit.window_days)
        if d.visit_date < opens:
            raise _refuse(
                f"visit_date: {d.visit_date} is before visit {visit.code}'s window opens ({opens})"
            )
        self._trial(self._record_follow_up_visit, d)

    @workflow.update
    async def record_unscheduled_event(self, d: UnscheduledEvent) -> PathwayState:
        """Record an adverse event, a death or a withdrawal."""
        self._apply(self._record_unscheduled_event, d)
        return await self._commit_and_submit()

    def _record_unscheduled_event(self, d: UnscheduledEvent) -> None:
        self._record(d.kind, d)
        if d.kind == "death":
            self._exit(Stage.DECEASED, f"died {d.occurred_on}: {d.cause_of_death}")
        elif d.kind == "withdrawal":
            self._exit(Stage.WITHDRAWN, f"withdrew {d.occurred_on}: {d.reason}")

    @record_unscheduled_event.validator
    def _validate_event(self, d: UnscheduledEvent) -> None:
        if self._state.stage.is_terminal:
            raise _refuse(f"stage: the pathway has ended ({self._state.stage})", "WrongStage")
        self._not_in_future("occurred_on", d.occurred_on)
        self._trial(self._record_unscheduled_event, d)

    @workflow.update
    async def close_task(self, d: TaskClosure) -> PathwayState:
        """Close a chase task for a missed visit, with a note."""
        self._apply(self._close_task, d)
        return await self._commit()

    def _close_task(self, d: TaskClosure) -> None:
        task = self._state.tasks[d.task_id]
        self._close(task)
        self._record("task_closed", d)

    @close_task.validator
    def _validate_close(self, d: TaskClosure) -> None:
        task = self._state.tasks.get(d.task_id)
        if task is None or not task.is_open or task.kind != TaskKind.CHASE_MISSED_VISIT:
            raise _refuse(f"task_id: {d.task_id!r} is not an open chase task")
        self._trial(self._close_task, d)

    @workflow.update
    async def review_lost_to_follow_up(self, d: LtfuReview) -> PathwayState:
        """After consecutive missed visits: carry on, or record loss to follow-up."""
        self._apply(self._review_lost_to_follow_up, d)
        return await self._commit()

    def _review_lost_to_follow_up(self, d: LtfuReview) -> None:
        task = self._open_task_of(TaskKind.LTFU_REVIEW)
        assert task is not None
        self._close(task)
        self._record("ltfu_review", d)
        if d.decision == "lost_to_follow_up":
            self._exit(Stage.LOST_TO_FOLLOW_UP, d.note)
        else:
            self._state.consecutive_missed_visits = 0

    @review_lost_to_follow_up.validator
    def _validate_ltfu(self, d: LtfuReview) -> None:
        if self._open_task_of(TaskKind.LTFU_REVIEW) is None:
            raise _refuse("decision: there is no open lost-to-follow-up review")
        self._trial(self._review_lost_to_follow_up, d)

    @workflow.update
    async def record_reild_review(self, d: ReildReview) -> PathwayState:
        """Grade suspected REILD (Braat) and close the review task."""
        self._apply(self._record_reild_review, d)
        return await self._commit_and_submit()

    def _record_reild_review(self, d: ReildReview) -> None:
        task = self._open_task_of(TaskKind.REILD_REVIEW)
        assert task is not None
        self._close(task)
        self._record("reild_review", d, braat_grade=int(braat_grade(d.findings)))

    @record_reild_review.validator
    def _validate_reild(self, d: ReildReview) -> None:
        if self._open_task_of(TaskKind.REILD_REVIEW) is None:
            raise _refuse("findings: there is no open REILD review")
        self._trial(self._record_reild_review, d)

    @workflow.update
    async def pause_clock(self, d: ClockPauseRequest) -> PathwayState:
        """Pause a waiting-time clock for documented patient choice."""
        self._apply(self._pause_clock, d)
        return await self._commit()

    def _pause_clock(self, d: ClockPauseRequest) -> None:
        key, clock = self._running_clock(d.kind)
        pause = ClockPause(start=d.start, reason=d.reason)
        self._state.clocks[key] = clock.model_copy(update={"pauses": (*clock.pauses, pause)})
        self._clocks_dirty = True
        self._record("clock_paused", d, clock=key)

    @pause_clock.validator
    def _validate_pause(self, d: ClockPauseRequest) -> None:
        _, clock = self._running_clock(d.kind)
        if clock.pauses and clock.pauses[-1].end is None:
            raise _refuse(f"kind: the {d.kind} clock is already paused")
        self._not_in_future("start", d.start)
        try:
            WaitingClock(
                kind=clock.kind,
                start=clock.start,
                pauses=(*clock.pauses, ClockPause(start=d.start, reason=d.reason)),
            )
        except ValueError as exc:
            raise _refuse(f"start: {_first_error(exc)}") from None
        self._trial(self._pause_clock, d)

    @workflow.update
    async def resume_clock(self, d: ClockResume) -> PathwayState:
        """End the running pause of a waiting-time clock."""
        self._apply(self._resume_clock, d)
        return await self._commit()

    def _resume_clock(self, d: ClockResume) -> None:
        key, clock = self._running_clock(d.kind)
        *done, last = clock.pauses
        ended = last.model_copy(update={"end": d.end})
        self._state.clocks[key] = clock.model_copy(update={"pauses": (*done, ended)})
        self._clocks_dirty = True
        self._record("clock_resumed", d, clock=key)

    @resume_clock.validator
    def _validate_resume(self, d: ClockResume) -> None:
        _, clock = self._running_clock(d.kind)
        if not clock.pauses or clock.pauses[-1].end is not None:
            raise _refuse(f"kind: the {d.kind} clock is not paused")
        self._not_in_future("end", d.end)
        if d.end < clock.pauses[-1].start:
            raise _refuse(f"end: {d.end} is before the pause started ({clock.pauses[-1].start})")
        self._trial(self._resume_clock, d)

    def _running_clock(self, kind: ClockKind) -> tuple[str, WaitingClock]:
        for key, clock in self._state.clocks.items():
            if clock.kind == kind and clock.stop is None:
                return key, clock
        raise _refuse(f"kind: no running {kind} clock on this pathway")

    def _start_clock(self, kind: ClockKind, start: date, treatment_number: int) -> None:
        key = f"{kind}#{treatment_number}"
        if kind in self._config.clocks and key not in self._state.clocks:
            self._state.clocks[key] = WaitingClock(kind=kind, start=start)
            self._clocks_dirty = True

    # ---------------------------------------------------------------- applying a step

    def _trial(self, step: Callable[[_P], None], d: _P) -> None:
        """Validator side: run the step on a copy of the working state, then put it back.

        The handler runs the very same step, so whatever the step would raise on this state
        is refused here, before the Update reaches history, and a handler whose validator
        passed cannot fail the workflow task.
        """
        saved = self._working_copy()
        try:
            step(d)
        except ApplicationError:
            raise
        except Exception as exc:  # a refusal, never a wedged workflow task
            raise _cannot_apply(exc) from None
        finally:
            self._restore(saved)

    def _apply(self, step: Callable[[_P], None], d: _P) -> None:
        """Handler side: the step on the live state. Should it still raise (state moved on
        between validator and handler), the state is put back and only the Update fails."""
        saved = self._working_copy()
        try:
            step(d)
        except Exception as exc:
            self._restore(saved)
            if isinstance(exc, ApplicationError):
                raise
            raise _cannot_apply(exc) from None

    def _working_copy(self) -> _Working:
        """Swap in copies of everything a step may change; returns the originals."""
        saved = _Working(
            state=self._state,
            wake=self._wake,
            dirty_tasks=self._dirty_tasks,
            dirty_visits=self._dirty_visits,
            stage_changes=self._stage_changes,
            outcomes=self._outcomes,
            outbox=self._outbox,
            clocks_dirty=self._clocks_dirty,
        )
        self._state = self._state.model_copy(deep=True)
        self._dirty_tasks, self._dirty_visits = set(self._dirty_tasks), set(self._dirty_visits)
        self._stage_changes = list(self._stage_changes)
        self._outcomes, self._outbox = list(self._outcomes), list(self._outbox)
        return saved

    def _restore(self, saved: _Working) -> None:
        self._state, self._wake = saved.state, saved.wake
        self._dirty_tasks, self._dirty_visits = saved.dirty_tasks, saved.dirty_visits
        self._stage_changes, self._outcomes = saved.stage_changes, saved.outcomes
        self._outbox, self._clocks_dirty = saved.outbox, saved.clocks_dirty

    # ---------------------------------------------------------------- validation helpers

    def _require_stage(self, *stages: Stage) -> None:
        if self._state.stage not in stages:
            allowed = " or ".join(stages)
            raise _refuse(
                f"stage: the pathway is in {self._state.stage}; this step needs {allowed}",
                "WrongStage",
            )

    def _today(self) -> date:
        return self._clock.today(workflow.now())

    def _referral_day(self) -> date:
        """The day the referral arrived, in the centre's calendar.

        Before this patch it was UTC's date, a day early for a referral made between midnight
        and 01:00 in British Summer Time; pathways recorded that way replay unchanged.
        """
        referred_at = self._state.referred_at
        if workflow.patched("referral-day-local"):
            return self._clock.today(referred_at)
        return referred_at.date()

    def _not_in_future(self, field: str, value: date) -> None:
        if value > self._today():
            raise _refuse(f"{field}: {value} is in the future")

    def _bookable(self, field: str, value: date) -> None:
        if value < self._today():
            raise _refuse(f"{field}: {value} is in the past")
        limit = self._config.max_booking_ahead_days
        if value > self._today() + timedelta(days=limit):
            raise _refuse(f"{field}: {value} is more than {limit} days ahead")

    def _not_before_workup(self, field: str, value: date) -> None:
        workup_on = self._state.workup_on
        if workup_on is not None and value < workup_on:
            raise _refuse(f"{field}: {value} is before the work-up ({workup_on})")

    # ---------------------------------------------------------------- state changes

    async def _open_referral(self, inp: PathwayInput) -> None:
        self._state.history.append(
            StageChange(
                ordinal=0, stage=Stage.REFERRED, at=self._state.referred_at, reason="referral"
            )
        )
        self._stage_changes.append(self._state.history[-1])
        self._record("referral", inp.referral, exclude={"patient"})
        received = inp.referral.received_on or self._referral_day()
        self._start_clock(ClockKind.DAYS_62, received, 1)
        missing = inp.referral.missing_items(self._config.required_referral_items)
        if missing or not self._config.auto_triage_complete_referrals:
            task = self._open_task(TaskKind.TRIAGE_REFERRAL)
            if missing:
                self._request_missing(task, missing)
            await self._commit(with_patient=True)
            return
        await self._commit(with_patient=True)
        self._enter(Stage.MDT_REVIEW, "referral complete")
        self._open_task(TaskKind.MDT_DECISION)
        await self._commit()

    def _enter(self, stage: Stage, reason: str) -> None:
        st = self._state
        change = StageChange(ordinal=len(st.history), stage=stage, at=workflow.now(), reason=reason)
        self._state.stage = stage
        self._state.stage_entered_at = change.at
        self._state.history.append(change)
        self._stage_changes.append(change)
        self._wake = True

    def _exit(self, stage: Stage, reason: str) -> None:
        """End the pathway: every open task and pending visit is cancelled."""
        self._cancel_follow_up(reason)
        for task in self._state.open_tasks:
            self._close(task, TaskState.CANCELLED)
        # An untreated patient leaves the waiting list: their clocks end with the pathway.
        for key, clock in self._state.clocks.items():
            if clock.stop is None:
                self._state.clocks[key] = _stop_clock(clock, self._today())
                self._clocks_dirty = True
        self._state.exit_reason = reason
        self._enter(stage, reason)

    def _cancel_follow_up(self, reason: str) -> None:
        for visit in self._current_visits():
            if visit.state == VisitState.SCHEDULED:
                visit.state = VisitState.CANCELLED
                self._dirty_visits.add(visit.id)
                self._close(self._state.tasks[visit.task_id], TaskState.CANCELLED)

    def _open_task(
        self,
        kind: TaskKind,
        *,
        due_on: date | None = None,
        detail: str | None = None,
        visit: Visit | None = None,
    ) -> Task:
        st = self._state
        st.task_counter += 1
        policy = self._config.steps[kind]
        now = workflow.now()
        task = Task(
            id=f"{kind.value}-{st.task_counter}",
            kind=kind,
            role=policy.role,
            title=_TITLES[kind] + (f" {visit.code}" if visit else ""),
            opened_at=now,
            due_on=due_on or self._clock.shift(self._clock.today(now), policy.due_days),
            detail=detail,
        )
        if visit is not None:
            task.visit_id = visit.id
            task.not_before = visit.due_on - timedelta(days=visit.window_days)
        st.tasks[task.id] = task
        self._dirty_tasks.add(task.id)
        self._wake = True
        return task

    def _move_task(self, task: Task, due_on: date, visit: Visit | None = None) -> None:
        """Re-date a task; its alarms start afresh from the new date."""
        task.due_on = due_on
        task.fired = []
        task.overdue = False
        if visit is not None:
            task.not_before = due_on - timedelta(days=visit.window_days)
        self._dirty_tasks.add(task.id)
        self._wake = True

    def _close(self, task: Task, state: TaskState = TaskState.DONE) -> None:
        task.state = state
        task.closed_at = workflow.now()
        self._dirty_tasks.add(task.id)
        self._wake = True

    def _book(self, d: ScheduleProcedure, booking: TaskKind, recording: TaskKind) -> None:
        """Close the booking task and open (or move) the task to record the procedure."""
        task = self._open_task_of(booking)
        if task is not None:
            self._close(task)
        due = self._clock.shift(d.scheduled_on, self._config.steps[recording].due_days)
        existing = self._open_task_of(recording)
        if existing is None:
            self._open_task(recording, due_on=due)
        else:
            self._move_task(existing, due)
        self._record(f"{booking.value}", d)

    def _request_missing(self, task: Task, missing: Iterable[str]) -> None:
        """Re-request missing referral items from the referrer; the triage clock restarts."""
        items = ", ".join(missing)
        task.detail = f"missing: {items}"
        policy = self._config.steps[task.kind]
        self._move_task(task, self._clock.shift(self._today(), policy.due_days))
        subject = f"Referral for pathway {self._state.pathway_id} incomplete; please send: {items}"
        # Keyed by the triage record just made, so each re-request is one message.
        key = f"request:{self._state.outcome_counter}"
        self._message(task, MessageKind.REQUEST, Role.REFERRER, subject, key)

    def _schedule_visits(self, anchor: date) -> None:
        st = self._state
        for spec in self._config.follow_up:
            visit_id = f"t{st.treatment_number}-{spec.code}"
            visit = Visit(
                id=visit_id,
                code=spec.code,
                kind=spec.kind,
                treatment_number=st.treatment_number,
                due_on=self._clock.on_or_after(visit_due_on(anchor, spec)),
                window_days=spec.window_days,
                task_id="",
            )
            task = self._open_task(TaskKind.FOLLOW_UP_VISIT, due_on=visit.due_on, visit=visit)
            visit.task_id = task.id
            st.visits[visit_id] = visit
            self._dirty_visits.add(visit_id)

    def _record(
        self, kind: str, payload: Any, exclude: set[str] | None = None, **extra: Any
    ) -> str:
        """Queue a recorded fact for the read model; returns its id."""
        st = self._state
        st.outcome_counter += 1
        outcome_id = f"o{st.outcome_counter}"
        data = payload.model_dump(mode="json", exclude=exclude)
        data.update(extra)
        self._outcomes.append(
            OutcomeRecord(id=outcome_id, kind=kind, recorded_at=workflow.now(), data=data)
        )
        return outcome_id

    def _message(
        self,
        task: Task,
        kind: MessageKind,
        role: Role,
        subject: str,
        key: str,
        send_at: datetime | None = None,
    ) -> None:
        now = workflow.now()
        self._outbox.append(
            OutboxMessage(
                id=f"{self._state.pathway_id}:{task.id}:{key}",
                recipient_role=role,
                kind=kind,
                task_id=task.id,
                due_on=task.due_on,
                subject=subject,
                send_at=send_at or now,
                created_at=now,
            )
        )

    # ---------------------------------------------------------------- alarms

    def _alarms(self, task: Task) -> list[Alarm]:
        policy = self._config.steps[task.kind]
        timeout_on = None
        if task.visit_id is not None:
            # A visit is missed the day after its window closes; windows are calendar days.
            visit = self._state.visits[task.visit_id]
            timeout_on = visit.due_on + timedelta(days=visit.window_days + 1)
        return alarms_for(task, policy, self._clock, timeout_on)

    def _fire_due_alarms(self) -> bool:
        now = workflow.now()
        fired = False
        for task in self._state.open_tasks:
            for alarm in self._alarms(task):
                if alarm.at > now or not task.is_open:
                    break
                task.fired.append(alarm.key)
                self._dirty_tasks.add(task.id)
                self._fire(task, alarm)
                fired = True
        return fired

    def _fire(self, task: Task, alarm: Alarm) -> None:
        policy = self._config.steps[task.kind]
        what = f"{task.title} for pathway {self._state.pathway_id}, due {task.due_on}"
        # Alarm kind -> (message kind, recipient, subject prefix); missed visits send nothing.
        messages = {
            AlarmKind.REMINDER: (MessageKind.REMINDER, policy.role, "Reminder"),
            AlarmKind.OVERDUE: (MessageKind.OVERDUE, policy.role, "Overdue"),
            AlarmKind.ESCALATE: (
                MessageKind.ESCALATION,
                self._config.escalation_role,
                "Escalation",
            ),
        }
        if alarm.kind == AlarmKind.OVERDUE:
            task.overdue = True
        if alarm.kind in messages:
            kind, role, prefix = messages[alarm.kind]
            self._message(task, kind, role, f"{prefix}: {what}", alarm.key, alarm.at)
        elif policy.timeout_action == TimeoutAction.ESCALATE:
            role = self._config.timeout_escalation_role
            self._message(
                task, MessageKind.TIMEOUT, role, f"Timed out: {what}", alarm.key, alarm.at
            )
        elif policy.timeout_action == TimeoutAction.MARK_MISSED:
            self._miss_visit(task)

    def _miss_visit(self, task: Task) -> None:
        st = self._state
        self._close(task, TaskState.MISSED)
        assert task.visit_id is not None
        visit = st.visits[task.visit_id]
        visit.state = VisitState.MISSED
        self._dirty_visits.add(visit.id)
        st.consecutive_missed_visits += 1
        self._open_task(TaskKind.CHASE_MISSED_VISIT, detail=f"visit {visit.code} missed")
        needed = self._config.missed_visits_for_ltfu_review
        if (
            st.consecutive_missed_visits >= needed
            and self._open_task_of(TaskKind.LTFU_REVIEW) is None
        ):
            self._open_task(
                TaskKind.LTFU_REVIEW,
                detail=f"{st.consecutive_missed_visits} visits missed in a row",
            )

    # ---------------------------------------------------------------- lookups

    def _open_task_of(self, kind: TaskKind) -> Task | None:
        return next((t for t in self._state.open_tasks if t.kind == kind), None)

    def _current_visits(self) -> list[Visit]:
        n = self._state.treatment_number
        return [v for v in self._state.visits.values() if v.treatment_number == n]

    def _scheduled_visit(self, code: str) -> Visit | None:
        return next(
            (
                v
                for v in self._current_visits()
                if v.code == code and v.state == VisitState.SCHEDULED
            ),
            None,
        )

    # ---------------------------------------------------------------- commit

    async def _commit(self, *, with_patient: bool = False) -> PathwayState:
        """Send what changed to the read model and search attributes, in order."""
        async with self._lock:
            st = self._state
            st.seq += 1
            batch = ProjectionBatch(
                pathway_id=st.pathway_id,
                seq=st.seq,
                at=workflow.now(),
                summary=self._summary(),
                patient=self._input.referral.patient if with_patient else None,
                stage_changes=self._stage_changes,
                tasks=[st.tasks[i] for i in sorted(self._dirty_tasks)],
                visits=[st.visits[i] for i in sorted(self._dirty_visits)],
                outcomes=self._outcomes,
                outbox=self._outbox,
                clocks=dict(st.clocks) if self._clocks_dirty else {},
            )
            self._clocks_dirty = False
            self._dirty_tasks, self._dirty_visits = set(), set()
            self._stage_changes, self._outcomes, self._outbox = [], [], []
            self._upsert_search_attributes()
            # Snapshot now: the live state may move on while the projection runs.
            snapshot = st.model_copy(deep=True)
            await workflow.execute_activity_method(
                ProjectionActivities.project_pathway,
                batch,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=_PROJECTION_RETRY,
            )
            self._committed = snapshot
            return snapshot

    async def _commit_and_submit(self) -> PathwayState:
        """Commit, then send the changed record to the registry (treated patients only)."""
        snapshot = await self._commit()
        self._submit_to_registry()
        return snapshot

    def _submit_to_registry(self) -> None:
        # NICE HTG720 1.4: everyone treated is entered into the registry. Behind a patch
        # marker: histories recorded before submissions existed must replay unchanged.
        if not self._state.treatment_number or not workflow.patched("registry-submission"):
            return
        self._registry = [t for t in self._registry if not t.done()]
        task = workflow.start_activity_method(
            RegistryActivities.submit_registry_record,
            RegistrySubmissionInput(pathway_id=self._state.pathway_id),
            start_to_close_timeout=timedelta(minutes=2),
            schedule_to_close_timeout=timedelta(days=7),
            retry_policy=_REGISTRY_RETRY,
            # Continue-as-new cancels in-flight submissions and must not wait on the reply.
            cancellation_type=workflow.ActivityCancellationType.TRY_CANCEL,
        )
        # A submission that gives up is expected (the nightly job sends it): its error is
        # taken here, so it is not logged as an exception never retrieved.
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        self._registry.append(task)

    def _cancel_registry_submissions(self) -> bool:
        """Cancel submissions still in flight (a new run cannot take them over); any?

        The next run submits afresh: the record is hashed, so nothing is sent twice.
        """
        in_flight = [t for t in self._registry if not t.done()]
        for task in in_flight:
            task.cancel()
        return bool(in_flight)

    def _summary(self) -> PathwaySummary:
        st = self._state
        return PathwaySummary(
            stage=st.stage,
            stage_entered_at=st.stage_entered_at,
            referred_at=st.referred_at,
            centre=st.centre,
            next_due_on=st.next_due_on,
            overdue=st.overdue,
            treatment_number=st.treatment_number,
            treatment_on=st.treatment_on,
            cumulative_lung_dose_gy=st.cumulative_lung_dose_gy,
            exit_reason=st.exit_reason,
            best_response=st.best_response,
        )

    def _upsert_search_attributes(self) -> None:
        st = self._state
        due = st.next_due_on
        values = (st.stage.value, due, st.overdue, st.centre)
        # Upsert only on change: each upsert is a history event.
        if values == self._search_attributes:
            return
        self._search_attributes = values
        workflow.upsert_search_attributes(
            [
                STAGE_KEY.value_set(st.stage.value),
                NEXT_DUE_KEY.value_set(start_of(due)) if due else NEXT_DUE_KEY.value_unset(),
                OVERDUE_KEY.value_set(st.overdue),
                CENTRE_KEY.value_set(st.centre),
            ]
        )

"""PatientPathwayWorkflow: one per pathway, the source of truth for its state and its time.

A thin shell around the pure transitions of ``workflows.transitions``: human steps arrive as
Updates whose validators try the step's transition and refuse bad input before it reaches
history; each handler applies the same transition and commits it (read-model projection,
search attributes) before returning, so a caller that sees the Update complete also sees the
read model agree. The main loop only sleeps until the next alarm and lets time pass.
"""

import asyncio
import contextlib
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey, SearchAttributeUpdate

with workflow.unsafe.imports_passed_through():
    from activities.projection import ProjectionActivities
    from core.calendar import WorkingCalendar
    from models.catalogue import BY_UPDATE
    from models.config import PathwayConfig
    from models.config import shared as shared_config
    from models.copying import deep_copy
    from models.state import (
        PathwayInput,
        PathwayState,
        PathwaySummary,
        ProjectionBatch,
        StepOutcome,
    )
    from models.steps import (
        AmendTreatmentDate,
        ClockPauseRequest,
        ClockResume,
        DeathConfirmation,
        DosimetryPlan,
        ExternalResults,
        FollowUpVisitRecord,
        LtfuReview,
        MdtDecision,
        ReildReview,
        ReportedDeath,
        ScheduleProcedure,
        TaskClosure,
        TreatmentRecord,
        TriageDecision,
        UnscheduledEvent,
        WorkupResult,
    )
    from models.vocab import Stage
    from registry.activity import RegistryActivities, RegistrySubmissionInput
    from workflows.alarms import Clock, start_of
    from workflows.transitions import (
        Context,
        Effects,
        Working,
        aftercare,
        alarms,
        attempt,
        selection,
    )

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

# The projection runs as a local activity in the worker that ran the step: no activity task
# through the server, and the step's commit and its Update result go in one workflow task.
# Runs recorded with a (remote) projection activity keep it (docs/decisions.md, "Scale").
_LOCAL_PROJECTION = "projection-local-activity"

# The alarm timer is kept across steps instead of cancelled and started again by each one.
_KEEP_ALARM_TIMER = "alarm-timer-kept"

_R = TypeVar("_R")

# Plans and treatments recorded before doses were derived from the work-up replay without
# the derived-dose refusals (which would now refuse some of them).
_DERIVED_DOSIMETRY = "derived-dosimetry"
_DOSIMETRY_UPDATES = frozenset({"record_dosimetry_plan", "record_treatment"})
# Runs recorded before clock breaches were announced replay without their alarms.
_CLOCK_BREACHES = "clock-breach-events"
# After a run's first upsert, only the search attributes that changed are sent: each one
# sent is encoded in the worker and indexed by the server (docs/decisions.md, "Scale").
_CHANGED_SEARCH_ATTRIBUTES = "search-attributes-changed-only"


@workflow.defn
class PatientPathwayWorkflow:
    """One patient's SIRT pathway from referral to the end of follow-up."""

    @workflow.init
    def __init__(self, inp: PathwayInput) -> None:
        inp.config = shared_config(inp.config)  # equal settings, one object per worker
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
        # The last commit's snapshot; the live state is it until the next change copies it.
        self._committed = self._snapshot = self._state
        self._lock = asyncio.Lock()
        self._wake = False
        self._pending = Effects()  # changed since the last commit
        self._search_attributes: tuple[object, ...] = ()
        self._registry: list[asyncio.Task[Any]] = []
        self._breaches: bool | None = None  # decided once per run (_announces_breaches)
        self._timer: asyncio.Future[None] | None = None  # the alarm timer, when kept
        self._timer_at = now

    # ---------------------------------------------------------------- main loop

    @workflow.run
    async def run(self, inp: PathwayInput) -> PathwayState:
        """Open the referral, then act on alarms until the pathway reaches an exit."""
        self._announces_breaches()
        if inp.carried is None:
            await self._open_referral(inp)
        elif inp.resubmit_registry:
            self._submit_to_registry()
        while not self._state.stage.is_terminal:
            at = self._next_alarm_at()
            # Only when an alarm is due: a change copies a state its last commit shares.
            if at is not None and at <= workflow.now() and self._change(alarms.fire_due_alarms):
                await self._commit()
                at = self._next_alarm_at()
            if aftercare.follow_up_finished(self._working()):
                self._change(aftercare.complete)
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
            await self._sleep_until(at)
        await workflow.wait_condition(workflow.all_handlers_finished)
        await asyncio.gather(*self._registry, return_exceptions=True)
        return self._state

    def _next_alarm_at(self) -> datetime | None:
        """When the next alarm is due: an open task's next one, or a clock's breach.

        An alarm is due exactly when ``alarms.fire_due_alarms`` would fire something.
        """
        w = self._working()
        first = [a.at for t in self._state.open_tasks for a in alarms.alarms_of(w, t)[:1]]
        breach = alarms.next_breach_at(w)
        if breach is not None:
            first.append(breach)
        return min(first, default=None)

    async def _sleep_until(self, at: datetime | None) -> None:
        """Until an Update wakes the loop, or the alarm due ``at`` (None: no alarm)."""
        self._wake = False
        if workflow.patched(_KEEP_ALARM_TIMER):
            await self._wait_with_kept_timer(at)
            return
        if at is None:
            await workflow.wait_condition(lambda: self._wake)
            return
        delay = at - workflow.now()
        # Due alarms fired just before, so delay is positive; a zero timeout is invalid.
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: self._wake, timeout=max(delay, timedelta(seconds=1))
            )

    async def _wait_with_kept_timer(self, at: datetime | None) -> None:
        """Until woken, or the alarm timer fires; a running timer due no later than ``at``
        is kept.

        Each step wakes the loop, and cancelling and starting the timer every time cost two
        history events a step. A kept timer that fires before any alarm is due only runs the
        loop once more (nothing fires); a new timer is started only when an alarm is due
        before the running one, or none runs.
        """
        timer = self._timer
        if timer is not None and timer.done():  # it fired: the loop has just run for it
            timer = self._timer = None
        if at is not None and (timer is None or at < self._timer_at):
            if timer is not None:
                timer.cancel()
            # Due alarms fired just before, so the delay is positive; a zero one is invalid.
            delay = max(at - workflow.now(), timedelta(seconds=1))
            timer = self._timer = asyncio.ensure_future(workflow.sleep(delay))
            self._timer_at = at
        await workflow.wait_condition(lambda: self._wake or (timer is not None and timer.done()))

    def _should_continue_as_new(self) -> bool:
        if self._state.stage != Stage.FOLLOW_UP:
            return False
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() > self._config.max_history_events_per_run
        )

    # ---------------------------------------------------------------- queries

    @workflow.query
    def state(self) -> PathwayState:
        """The pathway's state as last committed to the read model (no patient identifiers)."""
        return self._committed

    # ---------------------------------------------------------------- updates
    # Each Update is its catalogue entry's transition (workflows.transitions): the validator
    # tries it on a copy, the handler applies it. Their names are the catalogue's.

    @workflow.update
    async def triage_referral(self, d: TriageDecision) -> StepOutcome:
        """Accept the referral as complete, or re-request what is missing."""
        return await self._step("triage_referral", d)

    @triage_referral.validator
    def _check_triage_referral(self, d: TriageDecision) -> None:
        self._try("triage_referral", d)

    @workflow.update
    async def record_mdt_decision(self, d: MdtDecision) -> StepOutcome:
        """Record the MDT's decision; during follow-up, 'proceed' starts a repeat SIRT."""
        return await self._step("record_mdt_decision", d)

    @record_mdt_decision.validator
    def _check_record_mdt_decision(self, d: MdtDecision) -> None:
        self._try("record_mdt_decision", d)

    @workflow.update
    async def schedule_workup(self, d: ScheduleProcedure) -> StepOutcome:
        """Book (or re-book) the work-up angiography."""
        return await self._step("schedule_workup", d)

    @schedule_workup.validator
    def _check_schedule_workup(self, d: ScheduleProcedure) -> None:
        self._try("schedule_workup", d)

    @workflow.update
    async def record_workup(self, d: WorkupResult) -> StepOutcome:
        """Record the work-up; unresolved extrahepatic uptake goes back to the MDT."""
        return await self._step("record_workup", d)

    @record_workup.validator
    def _check_record_workup(self, d: WorkupResult) -> None:
        self._try("record_workup", d)

    @workflow.update
    async def record_dosimetry_plan(self, d: DosimetryPlan) -> StepOutcome:
        """Record the signed-off dosimetry plan; treatment can then be booked."""
        return await self._step("record_dosimetry_plan", d)

    @record_dosimetry_plan.validator
    def _check_record_dosimetry_plan(self, d: DosimetryPlan) -> None:
        self._try("record_dosimetry_plan", d)

    @workflow.update
    async def schedule_treatment(self, d: ScheduleProcedure) -> StepOutcome:
        """Book (or re-book) the SIRT treatment."""
        return await self._step("schedule_treatment", d)

    @schedule_treatment.validator
    def _check_schedule_treatment(self, d: ScheduleProcedure) -> None:
        self._try("schedule_treatment", d)

    @workflow.update
    async def record_treatment(self, d: TreatmentRecord) -> StepOutcome:
        """Record the delivery; follow-up visits are scheduled from its date."""
        return await self._step("record_treatment", d)

    @record_treatment.validator
    def _check_record_treatment(self, d: TreatmentRecord) -> None:
        self._try("record_treatment", d)

    @workflow.update
    async def amend_treatment_date(self, d: AmendTreatmentDate) -> StepOutcome:
        """Correct the treatment date; every pending visit moves with it."""
        return await self._step("amend_treatment_date", d)

    @amend_treatment_date.validator
    def _check_amend_treatment_date(self, d: AmendTreatmentDate) -> None:
        self._try("amend_treatment_date", d)

    @workflow.update
    async def record_follow_up_visit(self, d: FollowUpVisitRecord) -> StepOutcome:
        """Record the outcomes of one scheduled visit."""
        return await self._step("record_follow_up_visit", d)

    @record_follow_up_visit.validator
    def _check_record_follow_up_visit(self, d: FollowUpVisitRecord) -> None:
        self._try("record_follow_up_visit", d)

    @workflow.update
    async def record_unscheduled_event(self, d: UnscheduledEvent) -> StepOutcome:
        """Record an adverse event, a death or a withdrawal."""
        return await self._step("record_unscheduled_event", d)

    @record_unscheduled_event.validator
    def _check_record_unscheduled_event(self, d: UnscheduledEvent) -> None:
        self._try("record_unscheduled_event", d)

    @workflow.update
    async def close_task(self, d: TaskClosure) -> StepOutcome:
        """Close a chase task for a missed visit, with a note."""
        return await self._step("close_task", d)

    @close_task.validator
    def _check_close_task(self, d: TaskClosure) -> None:
        self._try("close_task", d)

    @workflow.update
    async def review_lost_to_follow_up(self, d: LtfuReview) -> StepOutcome:
        """After consecutive missed visits: carry on, or record loss to follow-up."""
        return await self._step("review_lost_to_follow_up", d)

    @review_lost_to_follow_up.validator
    def _check_review_lost_to_follow_up(self, d: LtfuReview) -> None:
        self._try("review_lost_to_follow_up", d)

    @workflow.update
    async def record_reild_review(self, d: ReildReview) -> StepOutcome:
        """Grade suspected REILD (Braat) and close the review task."""
        return await self._step("record_reild_review", d)

    @record_reild_review.validator
    def _check_record_reild_review(self, d: ReildReview) -> None:
        self._try("record_reild_review", d)

    @workflow.update
    async def pause_clock(self, d: ClockPauseRequest) -> StepOutcome:
        """Pause a waiting-time clock for documented patient choice."""
        return await self._step("pause_clock", d)

    @pause_clock.validator
    def _check_pause_clock(self, d: ClockPauseRequest) -> None:
        self._try("pause_clock", d)

    @workflow.update
    async def resume_clock(self, d: ClockResume) -> StepOutcome:
        """End the running pause of a waiting-time clock."""
        return await self._step("resume_clock", d)

    @resume_clock.validator
    def _check_resume_clock(self, d: ClockResume) -> None:
        self._try("resume_clock", d)

    @workflow.update
    async def record_external_results(self, d: ExternalResults) -> StepOutcome:
        """Record results another system sent; REILD opens a review as a visit would."""
        return await self._step("record_external_results", d)

    @record_external_results.validator
    def _check_record_external_results(self, d: ExternalResults) -> None:
        self._try("record_external_results", d)

    @workflow.update
    async def report_death(self, d: ReportedDeath) -> StepOutcome:
        """A death another system reported: a task to confirm it, never an exit."""
        return await self._step("report_death", d)

    @report_death.validator
    def _check_report_death(self, d: ReportedDeath) -> None:
        self._try("report_death", d)

    @workflow.update
    async def confirm_death(self, d: DeathConfirmation) -> StepOutcome:
        """Confirm (the pathway ends as deceased) or reject a reported death."""
        return await self._step("confirm_death", d)

    @confirm_death.validator
    def _check_confirm_death(self, d: DeathConfirmation) -> None:
        self._try("confirm_death", d)

    # ---------------------------------------------------------------- applying a step

    def _context(self, *, derived_dosimetry: bool = True) -> Context:
        return Context(
            now=workflow.now(),
            config=self._config,
            clock=self._clock,
            derived_dosimetry=derived_dosimetry,
            clock_breaches=bool(self._breaches),
        )

    def _announces_breaches(self) -> bool:
        """Whether this run sets alarms for clock breaches: asked of the patch marker once,
        at the run's start (or its first handler, should an Update come first), never from
        a validator, which cannot record one."""
        if self._breaches is None:
            self._breaches = workflow.patched(_CLOCK_BREACHES)
        return self._breaches

    def _working(self) -> Working:
        """The live state, for reading only (``_change`` changes it)."""
        return Working(self._state, self._context())

    def _own_state(self) -> PathwayState:
        """The live state, copied first if the last commit's snapshot is still it.

        A commit does not copy the state it sends: the snapshot is the live state until the
        next change. Steps change a copy anyway (``attempt``); only the workflow's own
        changes and the commit's sequence number change it in place, and they call this.
        """
        if self._state is self._snapshot:
            self._state = deep_copy(self._state)
        return self._state

    def _change(self, change: Callable[[Working], _R]) -> _R:
        """Apply a change of the workflow's own (time passing) to the live state."""
        self._own_state()
        w = self._working()
        result = change(w)
        self._keep(w)
        return result

    def _keep(self, w: Working) -> None:
        self._state = w.state
        self._pending.add(w.effects)
        self._wake = self._wake or w.effects.wake

    def _try(self, update: str, d: BaseModel) -> None:
        """Validator: the step on a copy; its refusal (naming the field) rejects the Update."""
        attempt(update, self._state, d, self._context())

    async def _step(self, update: str, d: BaseModel) -> StepOutcome:
        """Handler: the same step, kept; then committed (and sent to the registry if due).

        Should the step now be refused (the state moved on between validator and handler,
        say two Updates in one activation), only this Update fails and the state is as it was.
        """
        # Validators always apply the current rules (they never run on replay); a handler
        # replaying a history recorded before a rule existed must act as it did then.
        derived = update not in _DOSIMETRY_UPDATES or workflow.patched(_DERIVED_DOSIMETRY)
        self._announces_breaches()
        w = attempt(update, self._state, d, self._context(derived_dosimetry=derived))
        self._keep(w)
        if BY_UPDATE[update].registry:
            snapshot = await self._commit_and_submit()
        else:
            snapshot = await self._commit()
        return StepOutcome.of(snapshot, w.effects.record_id)

    def _referral_day(self) -> date:
        """The day the referral arrived, in the centre's calendar.

        Before this patch it was UTC's date, a day early for a referral made between midnight
        and 01:00 in British Summer Time; pathways recorded that way replay unchanged.
        """
        referred_at = self._state.referred_at
        if workflow.patched("referral-day-local"):
            return self._clock.today(referred_at)
        return referred_at.date()

    async def _open_referral(self, inp: PathwayInput) -> None:
        received = inp.referral.received_on or self._referral_day()
        complete = self._change(lambda w: selection.open_referral(w, inp.referral, received))
        await self._commit(with_patient=True)
        if complete:
            self._change(selection.referral_complete)
            await self._commit()

    # ---------------------------------------------------------------- commit

    async def _commit(self, *, with_patient: bool = False) -> PathwayState:
        """Send what changed to the read model and search attributes, in order."""
        async with self._lock:
            st = self._own_state()
            st.seq += 1
            # Whatever changed up to now goes in this batch; later changes wait for the next.
            pending, self._pending = self._pending, Effects()
            batch = ProjectionBatch(
                pathway_id=st.pathway_id,
                seq=st.seq,
                at=workflow.now(),
                summary=self._summary(),
                patient=self._input.referral.patient if with_patient else None,
                stage_changes=pending.stage_changes,
                tasks=[st.tasks[i] for i in sorted(pending.dirty_tasks)],
                visits=[st.visits[i] for i in sorted(pending.dirty_visits)],
                outcomes=pending.outcomes,
                outbox=pending.outbox,
                clocks=dict(st.clocks) if pending.clocks_dirty else {},
                clock_breaches=pending.clock_breaches,
            )
            self._upsert_search_attributes()
            # The snapshot: from here on the live state is shared, and the next change copies
            # it first, so it stays as sent while the projection runs.
            snapshot = self._snapshot = st
            if workflow.patched(_LOCAL_PROJECTION):
                await workflow.execute_local_activity_method(
                    ProjectionActivities.project_pathway,
                    batch,
                    start_to_close_timeout=timedelta(seconds=30),
                    retry_policy=_PROJECTION_RETRY,
                )
            else:
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
        previous = self._search_attributes
        if values == previous:
            return
        self._search_attributes = values
        updates: list[SearchAttributeUpdate[Any]] = [
            STAGE_KEY.value_set(st.stage.value),
            NEXT_DUE_KEY.value_set(start_of(due)) if due else NEXT_DUE_KEY.value_unset(),
            OVERDUE_KEY.value_set(st.overdue),
            CENTRE_KEY.value_set(st.centre),
        ]
        if previous and workflow.patched(_CHANGED_SEARCH_ATTRIBUTES):
            updates = [
                u for u, new, old in zip(updates, values, previous, strict=True) if new != old
            ]
        workflow.upsert_search_attributes(updates)

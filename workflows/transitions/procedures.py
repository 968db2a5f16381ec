"""Work-up, dosimetry and treatment: booking and recording the procedures."""

from typing import Any

from clinical.plan_check import refusal_message
from models.labels import label_for
from models.steps import (
    AmendTreatmentDate,
    DosimetryPlan,
    ScheduleProcedure,
    TreatmentRecord,
    WorkupResult,
)
from models.vocab import Stage, TaskKind, VisitState
from workflows.clinical_checks import delivery_assessment, plan_assessment
from workflows.follow_up import visit_due_on
from workflows.transitions.working import Working, refuse, stop_clock


def schedule_workup(w: Working, d: ScheduleProcedure) -> None:
    """Book (or re-book) the work-up angiography."""
    w.bookable("scheduled_on", d.scheduled_on)
    w.book(d, TaskKind.SCHEDULE_WORKUP, TaskKind.RECORD_WORKUP)
    w.state.workup_on = d.scheduled_on


def record_workup(w: Working, d: WorkupResult) -> None:
    """Record the work-up; unresolved extrahepatic uptake goes back to the MDT."""
    task = w.open_task_of(TaskKind.RECORD_WORKUP)
    if task is None:
        raise refuse("scheduled_on: book the work-up before recording it")
    w.not_in_future("performed_on", d.performed_on)
    w.close(task)
    w.record("workup", d)
    w.state.workup = d
    w.state.workup_on = d.performed_on
    unresolved = d.unresolved_uptake
    if unresolved:
        sites = ", ".join(unresolved)
        w.enter(Stage.MDT_REVIEW, f"unresolved extrahepatic uptake: {sites}")
        w.open_task(TaskKind.MDT_DECISION, detail=f"extrahepatic uptake: {sites}")
    else:
        w.enter(Stage.DOSIMETRY_PLANNING, "work-up recorded")
        w.open_task(TaskKind.DOSIMETRY_PLAN)


def record_dosimetry_plan(w: Working, d: DosimetryPlan) -> None:
    """Record the signed-off dosimetry plan; treatment can then be booked."""
    st = w.state
    workup = st.workup
    if workup is None:
        raise refuse("stage: no work-up has been recorded for this plan")
    unknown = [p.position for p in d.positions if p.position not in workup.injection_positions]
    if unknown:
        raise refuse(
            f"positions: {', '.join(unknown)} not among the work-up injection positions "
            f"({', '.join(workup.injection_positions)})"
        )
    w.not_in_future("physicist_signoff.signed_on", d.physicist_signoff.signed_on)
    derived: dict[str, Any] = {"overridden_limits": [], "computed_doses": None}
    if w.ctx.derived_dosimetry:
        # Derive, never trust: the doses are recomputed from the work-up and the plan's
        # activity; the limits apply to the computed figures, and typed figures must agree.
        checked = plan_assessment(d, workup, st.delivered_lung_doses_gy, w.config.clinical)
        overridable = w.config.allow_dosimetry_override and not checked.hard_refusals
        if checked.refusals and not (overridable and d.override_reason):
            reason = label_for("override_reason")
            hint = f"; a physicist may override by filling in '{reason}'" if overridable else ""
            raise refuse(refusal_message(checked.refusals) + hint, "UnsafePlan")
        derived = {
            "overridden_limits": [v.model_dump(mode="json") for v in checked.limit_refusals],
            "computed_doses": checked.doses.model_dump(mode="json") if checked.doses else None,
        }
    task = w.open_task_of(TaskKind.DOSIMETRY_PLAN)
    if task is not None:
        w.close(task)
    w.record("dosimetry_plan", d, **derived)
    st.plan = d
    w.enter(Stage.TREATMENT_SCHEDULED, "dosimetry plan signed off")
    w.open_task(TaskKind.SCHEDULE_TREATMENT)


def schedule_treatment(w: Working, d: ScheduleProcedure) -> None:
    """Book (or re-book) the SIRT treatment."""
    w.bookable("scheduled_on", d.scheduled_on)
    w.book(d, TaskKind.SCHEDULE_TREATMENT, TaskKind.RECORD_TREATMENT)


def record_treatment(w: Working, d: TreatmentRecord) -> None:
    """Record the delivery; follow-up visits are scheduled from its date."""
    st = w.state
    task = w.open_task_of(TaskKind.RECORD_TREATMENT)
    if task is None:
        raise refuse("scheduled_on: book the treatment before recording it")
    w.not_in_future("performed_on", d.performed_on)
    w.not_before_workup("performed_on", d.performed_on)
    plan = st.plan
    if plan is None:
        raise refuse("stage: no dosimetry plan has been recorded for this treatment")
    planned_positions = {p.position for p in plan.positions}
    unknown = [p.position for p in d.positions if p.position not in planned_positions]
    if unknown:
        raise refuse(f"positions: {', '.join(unknown)} not in the dosimetry plan")
    if st.workup is None:
        raise refuse("stage: no work-up has been recorded for this treatment")
    overridden: list[dict[str, Any]] = []
    if w.ctx.derived_dosimetry:
        delivery = delivery_assessment(
            d, plan, st.workup, st.delivered_lung_doses_gy, w.config.clinical
        )
        if delivery.refusals and not d.excess_activity_reason:
            hint = "; to record it, give excess_activity_reason"
            raise refuse(refusal_message(delivery.refusals) + hint, "UnsafeDelivery")
        lung_dose = delivery.lung_gy  # computed from the delivered activity, never typed
        overridden = [v.model_dump(mode="json") for v in delivery.refusals]
    else:
        # Recorded before doses were derived: the typed figure, scaled to the delivery.
        lung_dose = plan.predicted_lung_dose_gy * d.delivered_activity_gbq / plan.total_activity_gbq
    w.close(task)
    st.delivered_lung_doses_gy.append(round(lung_dose, 2))
    st.treatment_number += 1
    st.treatment_on = d.performed_on
    st.consecutive_missed_visits = 0
    st.visit_records = []
    for key, clock in st.clocks.items():
        if key.endswith(f"#{st.treatment_number}") and clock.stop is None:
            st.clocks[key] = stop_clock(clock, d.performed_on)
            w.effects.clocks_dirty = True
    w.record(
        "treatment",
        d,
        delivered_lung_dose_gy=round(lung_dose, 2),
        overridden_limits=overridden,
    )
    w.enter(Stage.FOLLOW_UP, f"treatment {st.treatment_number} delivered")
    w.schedule_visits(d.performed_on)


def amend_treatment_date(w: Working, d: AmendTreatmentDate) -> None:
    """Correct the treatment date; every pending visit moves with it."""
    w.not_in_future("performed_on", d.performed_on)
    w.not_before_workup("performed_on", d.performed_on)
    w.state.treatment_on = d.performed_on
    w.record("treatment_date_amended", d)
    for visit in w.current_visits():
        if visit.state == VisitState.SCHEDULED:
            spec = next(s for s in w.config.follow_up if s.code == visit.code)
            visit.due_on = w.ctx.clock.on_or_after(visit_due_on(d.performed_on, spec))
            w.effects.dirty_visits.add(visit.id)
            w.move_task(w.state.tasks[visit.task_id], visit.due_on, visit)

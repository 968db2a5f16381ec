"""Follow-up: visits, unscheduled events, chase tasks, reviews, and the end of follow-up."""

from datetime import timedelta

from clinical.liver_toxicity import braat_grade
from clinical.recist import best_overall_response
from models.steps import FollowUpVisitRecord, LtfuReview, ReildReview, TaskClosure, UnscheduledEvent
from models.vocab import Stage, TaskKind, VisitState
from workflows.clinical_checks import response_of, visit_results
from workflows.transitions.working import Working, refuse


def record_follow_up_visit(w: Working, d: FollowUpVisitRecord) -> None:
    """Record the outcomes of one scheduled visit."""
    visit = w.scheduled_visit(d.visit_code)
    if visit is None:
        pending = [v.code for v in w.current_visits() if v.state == VisitState.SCHEDULED]
        raise refuse(
            f"visit_code: no scheduled visit {d.visit_code!r}; "
            f"pending: {', '.join(pending) or 'none'}"
        )
    w.not_in_future("visit_date", d.visit_date)
    opens = visit.due_on - timedelta(days=visit.window_days)
    if d.visit_date < opens:
        raise refuse(
            f"visit_date: {d.visit_date} is before visit {visit.code}'s window opens ({opens})"
        )
    st = w.state
    if st.treatment_on is None:
        raise refuse("stage: no treatment has been recorded for this visit")
    visit.state = VisitState.DONE
    visit.recorded_on = d.visit_date
    w.effects.dirty_visits.add(visit.id)
    w.close(st.tasks[visit.task_id])
    st.consecutive_missed_visits = 0
    results = visit_results(
        d,
        treated_on=st.treatment_on,
        baseline_labs=st.baseline_labs,
        workup=st.workup,
        earlier=st.visit_records,
        config=w.config.clinical,
    )
    st.visit_records.append(d)
    response = response_of(results)
    if response is not None:
        st.responses.append(response)
        st.best_response = best_overall_response(st.responses)
    w.record("follow_up_visit", d, visit_id=visit.id, derived=results)
    reild = results.get("reild")
    if reild and reild["present"] and w.open_task_of(TaskKind.REILD_REVIEW) is None:
        w.open_task(TaskKind.REILD_REVIEW, detail=reild["reason"])


def record_unscheduled_event(w: Working, d: UnscheduledEvent) -> None:
    """Record an adverse event, a death or a withdrawal."""
    w.not_in_future("occurred_on", d.occurred_on)
    w.record(d.kind, d)
    if d.kind == "death":
        w.exit(Stage.DECEASED, f"died {d.occurred_on}: {d.cause_of_death}")
    elif d.kind == "withdrawal":
        w.exit(Stage.WITHDRAWN, f"withdrew {d.occurred_on}: {d.reason}")


def close_task(w: Working, d: TaskClosure) -> None:
    """Close a chase task for a missed visit, with a note."""
    task = w.state.tasks.get(d.task_id)
    if task is None or not task.is_open or task.kind != TaskKind.CHASE_MISSED_VISIT:
        raise refuse(f"task_id: {d.task_id!r} is not an open chase task")
    w.close(task)
    w.record("task_closed", d)


def review_lost_to_follow_up(w: Working, d: LtfuReview) -> None:
    """After consecutive missed visits: carry on, or record loss to follow-up."""
    task = w.open_task_of(TaskKind.LTFU_REVIEW)
    if task is None:
        raise refuse("decision: there is no open lost-to-follow-up review")
    w.close(task)
    w.record("ltfu_review", d)
    if d.decision == "lost_to_follow_up":
        w.exit(Stage.LOST_TO_FOLLOW_UP, d.note)
    else:
        w.state.consecutive_missed_visits = 0


def record_reild_review(w: Working, d: ReildReview) -> None:
    """Grade suspected REILD (Braat) and close the review task."""
    task = w.open_task_of(TaskKind.REILD_REVIEW)
    if task is None:
        raise refuse("findings: there is no open REILD review")
    w.close(task)
    w.record("reild_review", d, braat_grade=int(braat_grade(d.findings)))


def follow_up_finished(w: Working) -> bool:
    """Whether every visit of the latest treatment is recorded or missed, with nothing open."""
    st = w.state
    if st.stage != Stage.FOLLOW_UP or st.open_tasks:
        return False
    return all(v.state != VisitState.SCHEDULED for v in w.current_visits())


def complete(w: Working) -> None:
    """The follow-up schedule is finished: the pathway ends as completed."""
    w.enter(Stage.COMPLETED, "follow-up schedule finished")

"""What other hospital systems send: laboratory results and reported deaths.

Results are graded and checked exactly as a visit's are (REILD opens the same review task);
a reported death only opens a task, and the pathway ends when a coordinator confirms it.
"""

from models.steps import DeathConfirmation, ExternalResults, ReportedDeath
from models.vocab import Stage, TaskKind, VisitState
from workflows.clinical_checks import external_reild, lab_grades
from workflows.transitions.working import Working, refuse


def record_external_results(w: Working, d: ExternalResults) -> None:
    """Record results another system sent: CTCAE grades, REILD, the visit whose window holds
    them."""
    w.not_in_future("collected_on", d.collected_on)
    st = w.state
    derived: dict[str, object] = {}
    grades = lab_grades(d.labs, st.baseline_labs, w.config.clinical)
    if grades:
        derived["ctcae_grades"] = grades
    last_visit = st.visit_records[-1] if st.visit_records else None
    reild = external_reild(
        d.labs,
        d.collected_on,
        treated_on=st.treatment_on,
        last_visit=last_visit,
        config=w.config.clinical,
    )
    if reild is not None:
        derived["reild"] = reild
    for visit in w.current_visits():
        opens = visit.due_on.toordinal() - visit.window_days
        closes = visit.due_on.toordinal() + visit.window_days
        if visit.state == VisitState.SCHEDULED and opens <= d.collected_on.toordinal() <= closes:
            derived["visit_code"] = visit.code  # offered to that visit's form
            break
    w.record("external_results", d, derived=derived)
    if reild and reild["present"] and w.open_task_of(TaskKind.REILD_REVIEW) is None:
        w.open_task(TaskKind.REILD_REVIEW, detail=str(reild["reason"]))


def report_death(w: Working, d: ReportedDeath) -> None:
    """A death reported by another system: a task to confirm it (once), never an exit."""
    if d.died_on is not None:
        w.not_in_future("died_on", d.died_on)
    w.record("death_reported", d)
    if w.open_task_of(TaskKind.CONFIRM_DEATH) is None:
        when = f" on {d.died_on}" if d.died_on else ""
        w.open_task(TaskKind.CONFIRM_DEATH, detail=f"reported by {d.source}{when}")


def confirm_death(w: Working, d: DeathConfirmation) -> None:
    """Confirm a reported death (the pathway ends as deceased) or record why it is not."""
    task = w.open_task_of(TaskKind.CONFIRM_DEATH)
    if task is None:
        raise refuse("confirmed: there is no reported death to confirm")
    if d.died_on is not None:
        w.not_in_future("died_on", d.died_on)
    w.close(task)
    w.record("death_confirmation", d)
    if d.confirmed:
        w.exit(Stage.DECEASED, f"died {d.died_on}: confirmed from a reported death")

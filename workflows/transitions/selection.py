"""Referral, triage and the MDT's selection decision."""

from datetime import date

from clinical.enums import ClockKind
from models.referral import Referral
from models.state import StageChange
from models.steps import MdtDecision, MdtOutcome, TriageDecision
from models.vocab import Stage, TaskKind
from workflows.clinical_checks import mdt_flags, mdt_refusal
from workflows.transitions.working import Working, refuse


def open_referral(w: Working, referral: Referral, received: date) -> bool:
    """Record the referral and start its 62-day clock; True if it may go straight to MDT.

    A referral with items missing (or a centre that triages every referral) waits for triage.
    """
    st = w.state
    st.history.append(
        StageChange(ordinal=0, stage=Stage.REFERRED, at=st.referred_at, reason="referral")
    )
    w.effects.stage_changes.append(st.history[-1])
    w.record("referral", referral, exclude={"patient"})
    w.start_clock(ClockKind.DAYS_62, received, 1)
    missing = referral.missing_items(w.config.required_referral_items)
    st.referral_missing = missing
    if missing or not w.config.auto_triage_complete_referrals:
        task = w.open_task(TaskKind.TRIAGE_REFERRAL)
        if missing:
            w.request_missing(task, missing)
        return False
    return True


def referral_complete(w: Working) -> None:
    """A complete referral goes on the MDT list."""
    w.enter(Stage.MDT_REVIEW, "referral complete")
    w.open_task(TaskKind.MDT_DECISION)


def triage_referral(w: Working, d: TriageDecision) -> None:
    """Accept the referral as complete, or re-request what is missing.

    Items typed in at triage (``d.supplied``) count as received: what the referral still lacks
    is re-requested, and a referral they complete goes on to MDT review. A triage without them
    (every history recorded before they existed) is decided by ``complete`` alone.
    """
    task = w.open_task_of(TaskKind.TRIAGE_REFERRAL)
    if task is None:
        raise refuse("stage: the referral has no open triage task")
    w.record("triage", d)
    requested = list(d.missing_items)
    if d.supplied is not None:
        given = d.supplied.given()
        w.state.referral_missing = [n for n in w.state.referral_missing if n not in given]
        named = [n for n in d.missing_items if n not in given]
        requested = list(dict.fromkeys([*named, *w.state.referral_missing]))
    if d.complete or not requested:
        w.close(task)
        w.enter(Stage.MDT_REVIEW, "referral triaged complete")
        w.open_task(TaskKind.MDT_DECISION)
    else:
        w.request_missing(task, requested)


def record_mdt_decision(w: Working, d: MdtDecision) -> None:
    """Record the MDT's decision; during follow-up, 'proceed' starts a repeat SIRT."""
    w.not_in_future("meeting_date", d.meeting_date)
    st = w.state
    flags = mdt_flags(d, st.cumulative_lung_dose_gy, w.config.clinical)
    refusal = mdt_refusal(d, flags)
    if refusal:
        raise refuse(refusal, "Contraindication")
    outcome_id = w.record(
        "mdt_decision", d, eligibility_flags=[f.model_dump(mode="json") for f in flags]
    )
    st.baseline_labs = d.labs
    if d.decision == MdtOutcome.PROCEED:
        # Decision to treat: the 31-day clock runs to the next treatment.
        w.start_clock(ClockKind.DAYS_31, d.meeting_date, st.treatment_number + 1)
    if st.stage == Stage.FOLLOW_UP:
        if d.decision == MdtOutcome.PROCEED:
            w.cancel_follow_up("repeat SIRT decided by MDT")
            w.enter(Stage.WORKUP, f"repeat SIRT decided (outcome {outcome_id})")
            w.open_task(TaskKind.SCHEDULE_WORKUP)
        return
    task = w.open_task_of(TaskKind.MDT_DECISION)
    if task is not None:
        w.close(task)
    if d.decision == MdtOutcome.PROCEED:
        w.enter(Stage.WORKUP, "MDT: proceed to work-up")
        w.open_task(TaskKind.SCHEDULE_WORKUP)
    elif d.decision == MdtOutcome.NOT_SUITABLE:
        w.exit(Stage.NOT_SUITABLE, f"MDT: not suitable: {d.reason}")
    elif d.decision == MdtOutcome.ALTERNATIVE:
        w.exit(Stage.ALTERNATIVE_TREATMENT, f"MDT: {d.alternative_treatment}")
    else:
        w.open_task(
            TaskKind.MDT_DECISION, detail="re-discuss; needs: " + ", ".join(d.missing_items)
        )

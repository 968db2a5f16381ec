"""The pathway's steps as pure transitions: (state, payload, context) -> new state and effects.

An Update's validator runs its transition on a copy of the state and throws the copy away;
its handler runs the very same transition and keeps the result. Whatever a transition would
raise is therefore refused before the Update reaches history, and a handler whose validator
passed cannot fail the workflow task. The workflow class keeps only timers, commits and
activities. These modules are passed through the sandbox: loaded once per worker, not once
per workflow instance.
"""

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel
from temporalio.exceptions import ApplicationError

from clinical.errors import ClinicalRuleError
from models.copying import deep_copy
from models.state import PathwayState
from workflows.transitions import aftercare, clocks, intake, procedures, selection
from workflows.transitions.working import Context, Effects, Working, refuse, require_step_stage

__all__ = ["TRANSITIONS", "Context", "Effects", "Working", "attempt"]

Transition = Callable[[Working, Any], None]

# Update name -> transition; tests/workflows/test_catalogue.py keeps it equal to the catalogue.
TRANSITIONS: Mapping[str, Transition] = {
    "triage_referral": selection.triage_referral,
    "record_mdt_decision": selection.record_mdt_decision,
    "schedule_workup": procedures.schedule_workup,
    "record_workup": procedures.record_workup,
    "record_dosimetry_plan": procedures.record_dosimetry_plan,
    "schedule_treatment": procedures.schedule_treatment,
    "record_treatment": procedures.record_treatment,
    "amend_treatment_date": procedures.amend_treatment_date,
    "record_follow_up_visit": aftercare.record_follow_up_visit,
    "record_unscheduled_event": aftercare.record_unscheduled_event,
    "close_task": aftercare.close_task,
    "review_lost_to_follow_up": aftercare.review_lost_to_follow_up,
    "record_reild_review": aftercare.record_reild_review,
    "pause_clock": clocks.pause_clock,
    "resume_clock": clocks.resume_clock,
    "record_external_results": intake.record_external_results,
    "report_death": intake.report_death,
    "confirm_death": intake.confirm_death,
}


def cannot_apply(exc: Exception) -> ApplicationError:
    """A refusal for a step that raised: clinical rules say what is wrong in their message."""
    detail = str(exc) or type(exc).__name__
    kind = "ClinicalRule" if isinstance(exc, ClinicalRuleError) else "CannotApply"
    return refuse(f"payload: cannot be recorded on this pathway: {detail}", kind)


def attempt(update: str, state: PathwayState, payload: BaseModel, ctx: Context) -> Working:
    """Run the step ``update`` on a copy of ``state``: the changed copy and its effects.

    Raises an ApplicationError refusal (naming the field) and leaves ``state`` untouched if
    the step cannot be taken; any other exception a rule raises becomes such a refusal too.
    """
    w = Working(deep_copy(state), ctx)
    try:
        require_step_stage(w, update)
        TRANSITIONS[update](w, payload)
    except ApplicationError:
        raise
    except Exception as exc:  # a refusal, never a wedged workflow task
        raise cannot_apply(exc) from None
    return w

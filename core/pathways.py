"""Starting pathways and calling their steps: shared by the CLI, the API and the tests."""

import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from temporalio.client import Client, WorkflowHandle

from core.calendar import CalendarConfig
from models.config import PathwayConfig
from models.referral import Referral
from models.state import PathwayInput, PathwayState
from models.steps import (
    AmendTreatmentDate,
    ClockPauseRequest,
    ClockResume,
    DosimetryPlan,
    FollowUpVisitRecord,
    LtfuReview,
    MdtDecision,
    ReildReview,
    ScheduleProcedure,
    TaskClosure,
    TreatmentRecord,
    TriageDecision,
    UnscheduledEvent,
    WorkupResult,
)
from workflows.pathway import PatientPathwayWorkflow

# Step name (as typed on the CLI or in a URL) -> (Update name, payload model).
STEPS: Mapping[str, tuple[str, type[BaseModel]]] = {
    "triage": ("triage_referral", TriageDecision),
    "mdt-decision": ("record_mdt_decision", MdtDecision),
    "schedule-workup": ("schedule_workup", ScheduleProcedure),
    "workup": ("record_workup", WorkupResult),
    "dosimetry-plan": ("record_dosimetry_plan", DosimetryPlan),
    "schedule-treatment": ("schedule_treatment", ScheduleProcedure),
    "treatment": ("record_treatment", TreatmentRecord),
    "amend-treatment-date": ("amend_treatment_date", AmendTreatmentDate),
    "follow-up-visit": ("record_follow_up_visit", FollowUpVisitRecord),
    "event": ("record_unscheduled_event", UnscheduledEvent),
    "close-task": ("close_task", TaskClosure),
    "ltfu-review": ("review_lost_to_follow_up", LtfuReview),
    "reild-review": ("record_reild_review", ReildReview),
    "pause-clock": ("pause_clock", ClockPauseRequest),
    "resume-clock": ("resume_clock", ClockResume),
}


def centre_pathway_config(path: Path | None = None) -> PathwayConfig:
    """The configuration new pathways start with: the centre's file, else the defaults.

    The defaults include the working-day calendar (England, Europe/London).
    """
    if path is not None:
        return PathwayConfig.model_validate_json(path.read_text())
    return PathwayConfig(calendar=CalendarConfig())


def new_pathway_id() -> str:
    """A pseudonymous id: random, so it says nothing about the patient."""
    return f"pathway-{uuid.uuid4()}"


async def start_pathway(
    client: Client,
    referral: Referral,
    *,
    task_queue: str,
    centre: str,
    config: PathwayConfig | None = None,
) -> WorkflowHandle[PatientPathwayWorkflow, PathwayState]:
    """Start a pathway for a referral; the workflow id is the pathway id."""
    pathway_id = new_pathway_id()
    inp = PathwayInput(
        pathway_id=pathway_id,
        centre=centre,
        referral=referral,
        config=config or centre_pathway_config(),
    )
    return await client.start_workflow(
        PatientPathwayWorkflow.run, inp, id=pathway_id, task_queue=task_queue
    )


def parse_step(step: str, payload: Mapping[str, Any]) -> tuple[str, BaseModel]:
    """Validate a step's payload at the edge, where errors can name the field."""
    try:
        update, model = STEPS[step]
    except KeyError:
        raise ValueError(f"unknown step {step!r}; steps: {', '.join(STEPS)}") from None
    return update, model.model_validate(payload)


async def submit_step(
    client: Client, pathway_id: str, step: str, payload: Mapping[str, Any]
) -> PathwayState:
    """Validate and send one step; raises ValidationError or WorkflowUpdateFailedError."""
    update, model = parse_step(step, payload)
    handle = client.get_workflow_handle(pathway_id)
    state: PathwayState = await handle.execute_update(update, model, result_type=PathwayState)
    return state

"""One step catalogue: every table that names a step is derived from it, and it matches the
workflow's Updates one for one."""

import pytest
from pydantic import ValidationError
from temporalio import workflow

from api.permissions import MATRIX, describe, step_action
from api.queries import TASK_STEP
from api.routes.pages import step_title
from core.pathways import STEPS, UPDATES
from models.catalogue import CATALOGUE, OPEN_STAGES, STEP_OF_TASK, TASKS
from models.config import PathwayConfig
from models.state import StepOutcome
from models.vocab import Role, Stage, TaskKind
from workflows.pathway import PatientPathwayWorkflow
from workflows.transitions import TRANSITIONS

UPDATE_DEFINITIONS = workflow._Definition.must_from_class(PatientPathwayWorkflow).updates


def test_every_catalogue_entry_is_an_update_of_the_workflow_and_every_update_is_catalogued():
    assert {s.update for s in CATALOGUE} == set(UPDATE_DEFINITIONS)
    assert set(TRANSITIONS) == set(UPDATE_DEFINITIONS)


@pytest.mark.parametrize("spec", CATALOGUE, ids=lambda s: s.slug)
def test_each_update_takes_its_catalogued_payload_and_answers_compactly(spec):
    definition = UPDATE_DEFINITIONS[spec.update]
    assert definition.arg_types == [spec.payload]
    assert definition.ret_type is StepOutcome
    assert definition.validator is not None, f"{spec.update} has no validator"
    # The client calls the typed method, never the name as a string.
    assert UPDATES[spec.slug] is getattr(PatientPathwayWorkflow, spec.update)


@pytest.mark.parametrize("spec", CATALOGUE, ids=lambda s: s.slug)
def test_routes_permissions_pages_and_worklists_take_the_step_from_the_catalogue(spec):
    assert STEPS[spec.slug] is spec
    assert MATRIX[step_action(spec.slug)] == spec.roles
    assert describe(step_action(spec.slug)) == spec.description
    assert step_title(spec.slug) == spec.title
    for task in spec.tasks:
        assert TASK_STEP[task.kind.value] == spec.slug
        assert task.role in spec.roles, "a task waits for someone who cannot record it"
    assert spec.stages and set(spec.stages) <= set(OPEN_STAGES)


def test_every_kind_of_task_is_completed_by_exactly_one_step():
    kinds = [t.kind for s in CATALOGUE for t in s.tasks]
    assert sorted(kinds) == sorted(TaskKind)
    assert set(STEP_OF_TASK) == set(TaskKind) == set(TASKS)


def test_a_tasks_default_role_is_the_catalogues():
    steps = PathwayConfig().steps
    assert {kind: policy.role for kind, policy in steps.items()} == {
        kind: task.role for kind, task in TASKS.items()
    }


def test_a_centre_may_give_a_follow_up_visit_to_the_interventional_radiologist():
    config = PathwayConfig.model_validate(
        {"steps": {"follow_up_visit": {"role": "interventional_radiologist", "due_days": 0}}}
    )
    assert config.steps[TaskKind.FOLLOW_UP_VISIT].role == Role.INTERVENTIONAL_RADIOLOGIST
    assert Role.INTERVENTIONAL_RADIOLOGIST in MATRIX[step_action("follow-up-visit")]


def test_a_centre_cannot_put_the_mdt_decision_on_the_coordinators_worklist():
    # It would sit on a worklist whose owner gets 403 on submitting it.
    with pytest.raises(ValidationError) as caught:
        PathwayConfig.model_validate(
            {"steps": {"mdt_decision": {"role": "coordinator", "due_days": 14}}}
        )
    assert (
        "steps.mdt_decision.role: coordinator may not record 'mdt-decision'; "
        "choose one of: mdt_clinician"
    ) in str(caught.value)


def test_steps_open_in_every_stage_exclude_the_exits():
    assert Stage.COMPLETED not in OPEN_STAGES and Stage.REFERRED in OPEN_STAGES

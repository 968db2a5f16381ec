"""Bad input is refused with a message naming the field, and the pathway is unchanged."""

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from core.pathways import parse_step
from models.vocab import Stage
from tests import payloads
from tests.journey import Journey, drive_to
from tests.readmodel import assert_read_model_matches


async def refused(j: Journey, step: str, payload: dict[str, Any]) -> str:
    """Submit a step that must be refused; check nothing changed; return the message."""
    before = await j.live()
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await j.step(step, payload)
    after = await j.live()
    assert after == before
    assert_read_model_matches(j.pathways.engine, after)
    cause = info.value.cause
    assert isinstance(cause, ApplicationError)
    return cause.message


async def test_a_step_for_another_stage_is_refused(pathways) -> None:
    j = await drive_to(pathways, Stage.MDT_REVIEW)
    message = await refused(j, "workup", payloads.workup(await j.today()))
    assert message == "stage: the pathway is in MDT_REVIEW; this step needs WORKUP"


async def test_an_mdt_meeting_cannot_be_dated_in_the_future(pathways) -> None:
    j = await drive_to(pathways, Stage.MDT_REVIEW)
    tomorrow = await j.today() + timedelta(days=1)
    message = await refused(j, "mdt-decision", payloads.mdt(tomorrow))
    assert message == f"meeting_date: {tomorrow} is in the future"


async def test_a_work_up_cannot_be_booked_in_the_past_or_recorded_unbooked(pathways) -> None:
    j = await drive_to(pathways, Stage.WORKUP)
    yesterday = await j.today() - timedelta(days=1)
    message = await refused(j, "schedule-workup", {"scheduled_on": yesterday.isoformat()})
    assert message == f"scheduled_on: {yesterday} is in the past"
    message = await refused(j, "workup", payloads.workup(await j.today()))
    assert message == "scheduled_on: book the work-up before recording it"
    too_far = await j.today() + timedelta(days=731)
    message = await refused(j, "schedule-workup", {"scheduled_on": too_far.isoformat()})
    assert message == f"scheduled_on: {too_far} is more than 730 days ahead"


async def test_a_plan_may_only_use_the_work_up_injection_positions(pathways) -> None:
    j = await drive_to(pathways, Stage.DOSIMETRY_PLANNING)
    bad = payloads.plan(await j.today(), positions=[{"position": "segment 4", "activity_gbq": 1.0}])
    message = await refused(j, "dosimetry-plan", bad)
    assert message == (
        "positions: segment 4 not among the work-up injection positions "
        "(right hepatic, left hepatic)"
    )


async def test_a_visit_outside_the_schedule_or_before_its_window_is_refused(pathways) -> None:
    j = await drive_to(pathways, Stage.FOLLOW_UP)
    message = await refused(j, "follow-up-visit", payloads.visit("4m", await j.today()))
    assert message.startswith("visit_code: no scheduled visit '4m'; pending: 2w, 6w, 3m")
    message = await refused(j, "follow-up-visit", payloads.visit("6w", await j.today()))
    opens = j.state.visits["t1-6w"].due_on - timedelta(days=14)
    assert message == f"visit_date: {await j.today()} is before visit 6w's window opens ({opens})"


async def test_a_chase_task_id_must_exist(pathways) -> None:
    j = await drive_to(pathways, Stage.FOLLOW_UP)
    message = await refused(j, "close-task", {"task_id": "nope", "note": "x"})
    assert message == "task_id: 'nope' is not an open chase task"


async def test_nothing_can_be_recorded_on_an_ended_pathway(pathways) -> None:
    j = await drive_to(pathways, Stage.MDT_REVIEW)
    today = await j.today()
    await j.step("event", {"kind": "withdrawal", "occurred_on": str(today), "reason": "choice"})
    # The workflow has completed: the Update cannot even be delivered.
    with pytest.raises((RPCError, WorkflowUpdateFailedError)):
        await j.step("event", {"kind": "death", "occurred_on": str(today), "cause_of_death": "x"})
    assert (await j.handle.result()).stage == Stage.WITHDRAWN


@pytest.mark.parametrize(
    ("step", "payload", "field"),
    [
        ("mdt-decision", {**payloads.mdt(payloads.date(2026, 1, 1)), "ecog": 5}, "ecog"),
        ("mdt-decision", payloads.mdt(payloads.date(2026, 1, 1), "not_suitable"), "reason"),
        (
            "workup",
            payloads.workup(payloads.date(2026, 1, 1), lung_shunt_fraction=1.4),
            "lung_shunt_fraction",
        ),
        (
            "workup",
            payloads.workup(payloads.date(2026, 1, 1), tumour_volume_ml=5000),
            "tumour_volume_ml",
        ),
        ("triage", {"complete": False}, "missing_items"),
        ("event", {"kind": "death", "occurred_on": "2026-01-01"}, "cause_of_death"),
        ("treatment", {**payloads.treatment(payloads.date(2026, 1, 1)), "extent": "x"}, "extent"),
        ("schedule-workup", {"scheduled_on": "3785-03-07"}, "scheduled_on: 3785-03-07 is outside"),
        (
            "event",
            {"kind": "withdrawal", "occurred_on": "2026-01-01", "reason": "a\x00b"},
            "reason: contains a control character",
        ),
    ],
)
def test_payloads_are_checked_at_the_edge_with_the_field_named(
    step: str, payload: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as info:
        parse_step(step, payload)
    assert field in str(info.value)

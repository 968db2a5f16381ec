"""A patient's whole SIRT pathway, from referral to the end of five years of follow-up."""

from datetime import timedelta

import pytest
from temporalio.client import WorkflowHandle

from core.calendar import WorkingCalendar
from core.clock import local_date
from core.pathways import submit_step
from models.state import PathwayState
from models.vocab import Stage, TaskState, VisitState
from tests import payloads
from tests.readmodel import assert_read_model_matches, wait_for_stage
from workflows.pathway import PatientPathwayWorkflow


@pytest.fixture
def db_url(any_db_url: str) -> str:
    """This story runs on PostgreSQL and on the SQLite default."""
    return any_db_url


async def test_a_treated_patient_completes_five_years_of_follow_up(pathways) -> None:
    env, client, engine = pathways.env, pathways.client, pathways.engine
    handle: WorkflowHandle = await pathways.start(payloads.referral())
    pid = handle.id

    async def step(name: str, payload: dict) -> PathwayState:
        outcome = await submit_step(client, pid, name, payload)
        state = await handle.query(PatientPathwayWorkflow.state)
        assert (state.seq, state.stage) == (outcome.seq, outcome.stage)
        assert_read_model_matches(engine, state)
        return state

    async def today():
        return local_date(await env.get_current_time())

    # A complete referral goes straight to the MDT list.
    state = await wait_for_stage(handle, Stage.MDT_REVIEW)
    assert_read_model_matches(engine, state)
    assert pid.startswith("pathway-") and "9434765919" not in pid

    state = await step("mdt-decision", payloads.mdt(await today()))
    assert state.stage == Stage.WORKUP
    booked = await today() + timedelta(days=7)
    state = await step("schedule-workup", {"scheduled_on": booked.isoformat()})
    await env.sleep(timedelta(days=7))
    state = await step("workup", payloads.workup(await today()))
    assert state.stage == Stage.DOSIMETRY_PLANNING
    state = await step("dosimetry-plan", payloads.plan(await today()))
    assert state.stage == Stage.TREATMENT_SCHEDULED
    booked = await today() + timedelta(days=5)
    state = await step("schedule-treatment", {"scheduled_on": booked.isoformat()})
    await env.sleep(timedelta(days=5))
    treated_on = await today()
    state = await step("treatment", payloads.treatment(treated_on))
    assert state.stage == Stage.FOLLOW_UP
    # Computed from what was given, never typed: 49.67 x 1.8 GBq x LSF 0.08 / 1 kg = 7.15 Gy.
    assert state.cumulative_lung_dose_gy == 7.15
    visits = sorted(state.visits.values(), key=lambda v: v.due_on)
    assert [v.code for v in visits] == [
        "2w", "6w", "3m", "6m", "9m", "12m", "18m", "24m",
        "30m", "36m", "42m", "48m", "54m", "60m",
    ]  # fmt: skip
    assert visits[0].due_on == WorkingCalendar().next_working_day(treated_on + timedelta(weeks=2))

    *earlier, last = visits
    for visit in earlier:
        await env.sleep(visit.due_on - await today())
        state = await step("follow-up-visit", payloads.visit(visit.code, await today()))
    # The last visit ends follow-up: the workflow commits COMPLETED straight after the Update
    # returns, so the read model may already be past the Update's state; compare the end.
    await env.sleep(last.due_on - await today())
    await submit_step(client, pid, "follow-up-visit", payloads.visit(last.code, await today()))

    final: PathwayState = await handle.result()
    assert final.stage == Stage.COMPLETED
    assert all(v.state == VisitState.DONE for v in final.visits.values())
    assert all(t.state == TaskState.DONE for t in final.tasks.values())
    assert_read_model_matches(engine, final)
    events = [e async for e in handle.fetch_history_events()]
    assert len(events) < 2000
    sizes: dict[str, int] = {}
    for e in events:
        k = str(e.WhichOneof("attributes"))
        sizes[k] = sizes.get(k, 0) + e.ByteSize()
    print(f"\nfive-year history: {len(events)} events, {sum(sizes.values())} bytes", sizes)
    # Updates answer with a compact outcome, not the state (which was 242 KB of 417 KB).
    assert sizes["workflow_execution_update_completed_event_attributes"] < 30_000
    # The projection runs as a local activity (its batch is not stored in history): 130 KB.
    assert sum(sizes.values()) < 150_000

"""Follow-up: repeat SIRT, and a history kept bounded by continue-as-new."""

from datetime import timedelta

from core.calendar import WorkingCalendar
from models.config import PathwayConfig
from models.vocab import Stage, VisitState
from tests import payloads
from tests.journey import drive_to
from tests.readmodel import assert_read_model_matches

CAL = WorkingCalendar()


async def test_a_repeat_sirt_goes_back_through_work_up_and_adds_to_the_lung_dose(
    pathways,
) -> None:
    j = await drive_to(pathways, Stage.FOLLOW_UP, lung_dose_gy=18.0)
    assert j.state.cumulative_lung_dose_gy == 18.0
    await j.sleep(14)
    await j.step("follow-up-visit", payloads.visit("2w", await j.today()))
    state = await j.step("mdt-decision", payloads.mdt(await j.today()))
    assert state.stage == Stage.WORKUP
    first = [v for v in state.visits.values() if v.treatment_number == 1]
    assert sum(v.state == VisitState.CANCELLED for v in first) == 13
    assert state.visits["t1-2w"].state == VisitState.DONE

    when = await j.today() + timedelta(days=1)
    await j.step("schedule-workup", {"scheduled_on": when.isoformat()})
    await j.sleep(1)
    # This work-up's LSF gives 20 Gy for the 1.8 GBq planned; 90% of it reaches the patient.
    recorded = payloads.workup(await j.today(), lung_shunt_fraction=payloads.lsf_for_lung_dose(20))
    await j.step("workup", recorded)
    await j.step("dosimetry-plan", payloads.plan(await j.today(), from_workup=recorded))
    await j.step("schedule-treatment", {"scheduled_on": (await j.today()).isoformat()})
    # Only 90% of the second prescription was delivered (10% vial residual everywhere).
    state = await j.step(
        "treatment",
        payloads.treatment(
            await j.today(),
            positions=[
                {"position": "right hepatic", "administered_activity_gbq": 1.2, "residual_pct": 10},
                {"position": "left hepatic", "administered_activity_gbq": 0.6, "residual_pct": 10},
            ],
        ),
    )
    assert state.stage == Stage.FOLLOW_UP and state.treatment_number == 2
    assert state.delivered_lung_doses_gy == [18.0, 18.0]
    assert state.cumulative_lung_dose_gy == 36.0
    treated = state.treatment_on
    assert treated is not None
    assert state.visits["t2-2w"].due_on == CAL.next_working_day(treated + timedelta(weeks=2))
    assert_read_model_matches(pathways.engine, state)


async def test_follow_up_continues_as_new_and_carries_its_state(pathways) -> None:
    config = PathwayConfig(max_history_events_per_run=150)
    j = await drive_to(pathways, Stage.FOLLOW_UP, config=config)
    first_run = (await j.handle.describe()).run_id
    for visit in sorted(j.state.visits.values(), key=lambda v: v.due_on)[:6]:
        await j.sleep((visit.due_on - await j.today()).days)
        await j.step("follow-up-visit", payloads.visit(visit.code, await j.today()))
    state = await j.live()
    assert (await j.handle.describe()).run_id != first_run
    assert sum(v.state == VisitState.DONE for v in state.visits.values()) == 6
    assert state.stage == Stage.FOLLOW_UP
    assert_read_model_matches(pathways.engine, state)
    history = [e async for e in j.handle.fetch_history_events()]
    assert len(history) < 200

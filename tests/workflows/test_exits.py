"""Every way a pathway can end other than completing follow-up."""

from datetime import timedelta

from models.vocab import Stage, TaskState, VisitState
from tests import payloads
from tests.journey import drive_to
from tests.readmodel import assert_read_model_matches


async def test_mdt_finds_the_patient_not_suitable(pathways) -> None:
    j = await drive_to(pathways, Stage.MDT_REVIEW)
    state = await j.step(
        "mdt-decision",
        payloads.mdt(await j.today(), "not_suitable", reason="extensive extrahepatic disease"),
    )
    assert state.stage == Stage.NOT_SUITABLE
    assert state.exit_reason == "MDT: not suitable: extensive extrahepatic disease"
    assert not state.open_tasks
    assert (await j.handle.result()).stage == Stage.NOT_SUITABLE
    assert_read_model_matches(pathways.engine, state)


async def test_mdt_chooses_prrt_instead(pathways) -> None:
    j = await drive_to(pathways, Stage.MDT_REVIEW)
    state = await j.step(
        "mdt-decision",
        payloads.mdt(await j.today(), "alternative", alternative_treatment="prrt"),
    )
    assert state.stage == Stage.ALTERNATIVE_TREATMENT
    assert (await j.handle.result()).exit_reason == "MDT: prrt"


async def test_mdt_rediscussion_opens_a_new_decision_task(pathways) -> None:
    j = await drive_to(pathways, Stage.MDT_REVIEW)
    state = await j.step(
        "mdt-decision",
        payloads.mdt(await j.today(), "rediscuss", missing_items=["liver MRI"]),
    )
    assert state.stage == Stage.MDT_REVIEW
    [task] = state.open_tasks
    assert task.kind == "mdt_decision" and task.detail == "re-discuss; needs: liver MRI"
    assert_read_model_matches(pathways.engine, state)


async def test_a_patient_who_withdraws_during_work_up_leaves_no_open_task(pathways) -> None:
    j = await drive_to(pathways, Stage.DOSIMETRY_PLANNING)
    state = await j.step(
        "event",
        {"kind": "withdrawal", "occurred_on": str(await j.today()), "reason": "patient choice"},
    )
    assert state.stage == Stage.WITHDRAWN
    assert all(t.state != TaskState.OPEN for t in state.tasks.values())
    assert_read_model_matches(pathways.engine, state)


async def test_a_death_in_follow_up_cancels_every_pending_visit(pathways) -> None:
    j = await drive_to(pathways, Stage.FOLLOW_UP)
    await j.sleep(35)
    state = await j.step(
        "event",
        {"kind": "death", "occurred_on": str(await j.today()), "cause_of_death": "liver failure"},
    )
    assert state.stage == Stage.DECEASED
    states = sorted(v.state for v in state.visits.values())
    # The 2-week visit's window closed unrecorded; everything later is cancelled.
    assert states.count(VisitState.CANCELLED) == 13
    assert states.count(VisitState.MISSED) == 1
    assert (await j.handle.result()).stage == Stage.DECEASED
    assert_read_model_matches(pathways.engine, state)


async def test_two_missed_visits_lead_to_a_review_and_loss_to_follow_up(pathways) -> None:
    j = await drive_to(pathways, Stage.FOLLOW_UP)
    treated = j.state.treatment_on
    assert treated is not None
    # The 6-week visit's window closes at day 42 + 14 (later if day 42 is a holiday).
    await j.sleep(62)
    state = await j.live()
    assert [state.visits[f"t1-{c}"].state for c in ("2w", "6w", "3m")] == [
        VisitState.MISSED,
        VisitState.MISSED,
        VisitState.SCHEDULED,
    ]
    kinds = sorted(t.kind for t in state.open_tasks if t.kind != "follow_up_visit")
    assert kinds == ["chase_missed_visit", "chase_missed_visit", "ltfu_review"]
    state = await j.step(
        "ltfu-review", {"decision": "lost_to_follow_up", "note": "moved abroad, no contact"}
    )
    assert state.stage == Stage.LOST_TO_FOLLOW_UP
    assert not state.open_tasks
    assert_read_model_matches(pathways.engine, state)


async def test_a_reviewed_patient_who_returns_carries_on_with_follow_up(pathways) -> None:
    j = await drive_to(pathways, Stage.FOLLOW_UP)
    await j.sleep(62)
    state = await j.step("ltfu-review", {"decision": "continue", "note": "reached by phone"})
    assert state.stage == Stage.FOLLOW_UP and state.consecutive_missed_visits == 0
    chase = next(t for t in state.open_tasks if t.kind == "chase_missed_visit")
    state = await j.step("close-task", {"task_id": chase.id, "note": "rebooked"})
    assert state.tasks[chase.id].state == TaskState.DONE
    due = state.visits["t1-3m"].due_on
    await j.sleep((due - await j.today()).days)
    state = await j.step("follow-up-visit", payloads.visit("3m", await j.today()))
    assert state.visits["t1-3m"].state == VisitState.DONE
    assert_read_model_matches(pathways.engine, state)
    assert timedelta(0) < due - state.treatment_on  # type: ignore[operator]

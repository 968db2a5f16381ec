"""Replay safety: recorded histories must replay against the current workflow code.

Histories under tests/histories/ were recorded from real runs of these journeys; the two
older ones predate registry submission and prove its `workflow.patched()` guard, and all but
the one referred after midnight predate the "referral-day-local" patch; all but the breached
clock predate "clock-breach-events". Record new
ones (SIRT_RECORD_HISTORIES=name,name; =1 for all) only for a deliberate, patched change: an
old history that no longer replays means a running pathway would break on deploy.
"""

import asyncio
import os
from collections.abc import Awaitable, Callable
from datetime import datetime, time, timedelta
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from core.calendar import CalendarConfig
from core.codec import encrypted_data_converter
from models.config import PathwayConfig
from models.vocab import Stage
from tests import payloads
from tests.conftest import TEST_KEY
from tests.journey import Journey, drive_to
from tests.pinned import LONDON
from workflows.pathway import PatientPathwayWorkflow

HISTORIES = Path(__file__).resolve().parent.parent / "histories"
# "1" records every journey; a comma-separated list records just those.
RECORD = os.environ.get("SIRT_RECORD_HISTORIES", "")


def replayer() -> Replayer:
    return Replayer(
        workflows=[PatientPathwayWorkflow], data_converter=encrypted_data_converter(TEST_KEY)
    )


async def through_follow_up_with_a_missed_visit(pathways) -> Journey:
    j = await drive_to(pathways, Stage.FOLLOW_UP)
    await j.sleep(45)
    await j.step("follow-up-visit", payloads.visit("6w", await j.today() - timedelta(days=3)))
    died = {"kind": "death", "occurred_on": str(await j.today()), "cause_of_death": "sepsis"}
    await j.step("event", died)
    return j


async def rediscussed_then_not_suitable(pathways) -> Journey:
    j = await drive_to(pathways, Stage.MDT_REVIEW)
    await j.step("mdt-decision", payloads.mdt(await j.today(), "rediscuss", missing_items=["CT"]))
    await j.sleep(20)
    await j.step("mdt-decision", payloads.mdt(await j.today(), "not_suitable", reason="ECOG 3"))
    return j


async def treated_with_registry_submissions_and_a_withdrawal(pathways) -> Journey:
    j = await drive_to(pathways, Stage.FOLLOW_UP)
    await j.sleep(14)
    await j.step("follow-up-visit", payloads.visit("2w", await j.today()))
    left = {"kind": "withdrawal", "occurred_on": str(await j.today()), "reason": "moved"}
    await j.step("event", left)
    return j


async def treated_with_derived_doses_then_withdrawn(pathways) -> Journey:
    # The plan and the treatment pass the "derived-dosimetry" rules: doses recomputed from
    # the work-up, the delivered lung dose derived from the delivered activity.
    j = await drive_to(pathways, Stage.FOLLOW_UP)
    left = {"kind": "withdrawal", "occurred_on": str(await j.today()), "reason": "moved"}
    await j.step("event", left)
    return j


async def referred_a_minute_after_midnight_then_not_suitable(pathways) -> Journey:
    # At 00:01 in summer time UTC's date is yesterday's: the "referral-day-local" patch.
    now = await pathways.env.get_current_time()
    midnight = datetime.combine(now.astimezone(LONDON).date(), time(0, 1), tzinfo=LONDON)
    await pathways.env.sleep(midnight + timedelta(days=1) - now)
    j = await drive_to(pathways, Stage.MDT_REVIEW)
    assert j.state.clocks["62-day#1"].start == await j.today()
    await j.step("mdt-decision", payloads.mdt(await j.today(), "not_suitable", reason="ECOG 3"))
    return j


async def continued_as_new_with_a_registry_submission_in_flight(pathways) -> Journey:
    # History past the limit at treatment: the run continues as new as the treatment's
    # registry submission starts, and hands it to the next run. Replays the first run.
    config = PathwayConfig(calendar=CalendarConfig(), max_history_events_per_run=50)
    j = await drive_to(pathways, Stage.TREATMENT_SCHEDULED, config=config)
    for days in (3, 4):  # booked, then moved a day: history enough to pass the limit
        when = await j.today() + timedelta(days=days)
        await j.step("schedule-treatment", {"scheduled_on": when.isoformat()})
    await j.sleep(4)
    first = (await j.handle.describe()).run_id
    await j.step("treatment", payloads.treatment(await j.today()))
    for _ in range(400):
        if (await j.handle.describe()).run_id != first:
            break
        await asyncio.sleep(0.025)
    else:
        raise AssertionError("the pathway did not continue as new")
    left = {"kind": "withdrawal", "occurred_on": str(await j.today()), "reason": "moved"}
    await j.step("event", left)
    j.handle = pathways.client.get_workflow_handle(j.id, run_id=first)
    return j


async def clock_paused_then_breached_then_not_suitable(pathways) -> Journey:
    # The "clock-breach-events" patch: a pause, a resume that wakes the loop, the breach alarm.
    j = await drive_to(pathways, Stage.MDT_REVIEW)
    await j.sleep(20)
    pause = {"kind": "62-day", "start": str(await j.today()), "reason": "patient's choice"}
    await j.step("pause-clock", pause)
    await j.sleep(10)
    await j.step("resume-clock", {"kind": "62-day", "end": str(await j.today())})
    await j.sleep(44)
    assert (await j.live()).breached_clocks == ["62-day#1"]
    await j.step("mdt-decision", payloads.mdt(await j.today(), "not_suitable", reason="ECOG 3"))
    return j


JOURNEYS: dict[str, Callable[..., Awaitable[Journey]]] = {
    "clock_paused_then_breached_then_not_suitable": clock_paused_then_breached_then_not_suitable,
    "continued_as_new_with_a_registry_submission_in_flight": (
        continued_as_new_with_a_registry_submission_in_flight
    ),
    "treated_with_registry_submissions_and_a_withdrawal": (
        treated_with_registry_submissions_and_a_withdrawal
    ),
    "treated_with_derived_doses_then_withdrawn": treated_with_derived_doses_then_withdrawn,
    # Recorded with the projection as a local activity and the alarm timer kept across steps
    # (patches "projection-local-activity", "alarm-timer-kept").
    "treated_with_local_projections_then_withdrawn": treated_with_derived_doses_then_withdrawn,
    # Recorded sending only the search attributes that changed ("search-attributes-changed-only").
    "treated_with_changed_search_attributes_then_withdrawn": (
        treated_with_derived_doses_then_withdrawn
    ),
    "follow_up_missed_visit_then_death": through_follow_up_with_a_missed_visit,
    "mdt_rediscussed_then_not_suitable": rediscussed_then_not_suitable,
    "referred_a_minute_after_midnight_then_not_suitable": (
        referred_a_minute_after_midnight_then_not_suitable
    ),
}


@pytest.mark.parametrize("name", sorted(JOURNEYS))
async def test_a_fresh_history_replays_deterministically(pathways, name: str) -> None:
    j = await JOURNEYS[name](pathways)
    await j.handle.result()
    history = await j.handle.fetch_history()
    await replayer().replay_workflow(history)
    if RECORD == "1" or name in RECORD.split(","):
        HISTORIES.mkdir(exist_ok=True)
        (HISTORIES / f"{name}.json").write_text(history.to_json())


def recorded() -> list[Path]:
    return sorted(HISTORIES.glob("*.json"))


def test_histories_are_committed() -> None:
    assert {p.stem for p in recorded()} >= set(JOURNEYS)


@pytest.mark.parametrize("path", recorded(), ids=lambda p: p.stem)
async def test_a_recorded_history_replays_against_current_code(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    await replayer().replay_workflow(history)


def test_after_the_first_upsert_a_step_sends_only_the_search_attributes_it_changed() -> None:
    path = HISTORIES / "treated_with_changed_search_attributes_then_withdrawn.json"
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    upserts = [
        sorted(set(fields) - {"TemporalChangeVersion"})  # patch markers upsert that one
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
        and (
            fields
            := e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
        )
    ]
    upserts = [u for u in upserts if u]
    assert upserts[0] == ["Centre", "NextDueAt", "Overdue", "PathwayStage"]
    assert all(len(u) < 4 for u in upserts[1:]), upserts
    assert ["PathwayStage"] in upserts[1:]

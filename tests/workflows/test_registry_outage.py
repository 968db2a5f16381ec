"""A registry outage never holds up a pathway: its reminders and timeouts fire on time.

The registry is a real HTTP server on loopback that answers 503 for a week. The pathway's
submission keeps failing beside it; the pathway continues-as-new at once (without waiting
for the submission) and every follow-up alarm in that week fires at its exact time. What the
pathway's own submission gave up on, the scheduler's nightly registry job sends.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, time, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from core.calendar import CalendarConfig, WorkingCalendar
from models.config import PathwayConfig, VisitSpec
from models.reports import RegistrySubmissionRow
from models.vocab import Stage, TaskKind, VisitState
from notifications.config import NotifyConfig
from registry.config import RegistrySettings
from scheduler import jobs
from scheduler.runs import runs
from tests import payloads
from tests.conftest import Pathways
from tests.journey import Journey, drive_to
from tests.notifications.support import own_database
from tests.readmodel import assert_read_model_matches, outbox
from tests.registry.support import Registry, loopback_registry
from tests.workflows.test_replay import replayer
from worker import build_worker

CAL = WorkingCalendar()
# The centre phones each patient a week after treatment (a day either side), then follows
# the usual schedule. The low history limit makes follow-up continue-as-new at once.
CONFIG = PathwayConfig(
    calendar=CalendarConfig(),
    follow_up=(
        VisitSpec(code="1w", weeks=1, kind="call", window_days=1),
        *PathwayConfig().follow_up,
    ),
    max_history_events_per_run=50,
)


SETTINGS = RegistrySettings(pseudonym_secret="test-secret", _env_file=None)


@pytest.fixture(scope="module")
def outage_db_url() -> Iterator[str]:
    with own_database() as url:
        yield url


@pytest.fixture
def db_url(outage_db_url: str) -> str:
    """A read model of this module's own: the nightly job acts on every treated pathway."""
    return outage_db_url


@pytest.fixture
def registry() -> Iterator[Registry]:
    with loopback_registry() as r:
        yield r


@pytest.fixture
async def pathways(
    workflow_env: WorkflowEnvironment, engine: Engine, registry: Registry
) -> AsyncIterator[Pathways]:
    """A worker whose registry submissions go to the loopback registry."""
    settings = SETTINGS.model_copy(update={"url": registry.url})
    task_queue = f"tq-{uuid.uuid4()}"
    with ThreadPoolExecutor(max_workers=8) as executor:
        worker = build_worker(
            workflow_env.client, engine, task_queue, executor, registry_settings=settings
        )
        async with worker:
            p = Pathways(workflow_env, workflow_env.client, task_queue, engine)
            yield p
            await p.terminate_all()


def a_plain_fortnight(after: date) -> date:
    """The first Monday after ``after`` with no bank holiday in the two weeks it starts."""
    monday = after + timedelta(days=7 - after.weekday())
    while any(CAL.is_bank_holiday(monday + timedelta(days=d)) for d in range(14)):
        monday += timedelta(weeks=1)
    return monday


def at(day: date, hour: int) -> datetime:
    """``hour`` o'clock London time on ``day``, as the UTC instant."""
    return CAL.reminder_time(day, time(hour))


async def sleep_until(j: Journey, when: datetime) -> None:
    await j.env.sleep(when - await j.env.get_current_time())


async def new_run_of(j: Journey, run_id: str) -> str:
    """The pathway's run after ``run_id`` (bounded polling: continue-as-new is asynchronous)."""
    for _ in range(400):
        current = (await j.handle.describe()).run_id
        if current != run_id:
            assert current is not None
            return current
        await asyncio.sleep(0.025)
    raise AssertionError("the pathway never continued as new")


async def nightly_registry_job(pathways: Pathways, registry: Registry, night: datetime) -> None:
    """The scheduler's nightly registry job, run as the active scheduler would run it."""
    ctx = jobs.JobContext(
        engine=pathways.engine,
        client=pathways.client,
        notify=NotifyConfig.model_validate({}),
        loop=asyncio.get_running_loop(),
        instance="night",
        clock=lambda: night,
        registry=SETTINGS.model_copy(update={"url": registry.url}),
    )
    jobs.activate(ctx)
    try:
        await asyncio.to_thread(jobs.registry_job)
    finally:
        jobs.deactivate(ctx)


def submissions(engine: Engine, pathway_id: str) -> list[tuple[int, str, int]]:
    """(version, status, attempts) of each version of the pathway's registry record."""
    with Session(engine) as session:
        found = session.exec(
            select(RegistrySubmissionRow)
            .where(col(RegistrySubmissionRow.pathway_id) == pathway_id)
            .order_by(col(RegistrySubmissionRow.version))
        ).all()
    return [(r.version, r.status, r.attempts) for r in found]


async def test_a_week_long_registry_outage_delays_no_follow_up_reminder_or_missed_visit_timeout(
    pathways: Pathways, registry: Registry
) -> None:
    j = await drive_to(pathways, Stage.TREATMENT_SCHEDULED, config=CONFIG)
    # SIRT is given on a Monday (no bank holiday in the fortnight after, so the dates read
    # plainly) and recorded on the Wednesday, at ten, while the registry is down.
    monday = a_plain_fortnight(await j.today())
    await j.step("schedule-treatment", {"scheduled_on": monday.isoformat()})
    registry.down = True
    wednesday = monday + timedelta(days=2)
    await sleep_until(j, at(wednesday, 10))
    first_run = (await j.handle.describe()).run_id
    assert first_run is not None
    state = await j.step("treatment", payloads.treatment(monday))
    assert state.stage == Stage.FOLLOW_UP
    call = state.visits["t1-1w"]
    assert call.due_on == monday + timedelta(weeks=1)

    # Follow-up continues as new straight away, handing the submission to the new run.
    await new_run_of(j, first_run)
    old = await pathways.client.get_workflow_handle(j.id, run_id=first_run).describe()
    assert old.status == WorkflowExecutionStatus.CONTINUED_AS_NEW
    assert old.close_time is not None and old.close_time < at(wednesday, 11)

    # A week of outage: every submission attempt reaches the registry and is refused.
    next_wednesday = wednesday + timedelta(weeks=1)
    await sleep_until(j, at(next_wednesday, 12))
    assert registry.posts == [] and registry.refused > 1
    assert submissions(pathways.engine, j.id) == [(1, "failed", registry.refused)]

    # The call's reminder (the working day before) and its overdue notice came at 08:00 on
    # their days, sent then, not when the registry came back.
    friday, tuesday = monday + timedelta(days=4), monday + timedelta(days=8)
    sent = [
        (m.kind, m.send_at, m.created_at.replace(microsecond=0))
        for m in outbox(pathways.engine, j.id)
        if m.task_id == call.task_id
    ]
    assert sent == [
        ("reminder", at(friday, 8), at(friday, 8)),
        ("overdue", at(tuesday, 8), at(tuesday, 8)),
    ]
    # Missed the morning after its window closed (Tuesday), on Wednesday at 08:00.
    state = await j.live()
    assert state.visits["t1-1w"].state == VisitState.MISSED
    [chase] = [t for t in state.open_tasks if t.kind == TaskKind.CHASE_MISSED_VISIT]
    assert chase.opened_at.replace(microsecond=0) == at(next_wednesday, 8)
    assert chase.detail == "visit 1w missed"
    assert_read_model_matches(pathways.engine, state)

    # The registry comes back at noon, after the pathway's submission gave up (a week after
    # it started). That night the scheduler's registry job sends the record, once.
    registry.down = False
    night = at(next_wednesday + timedelta(days=1), 3) + timedelta(minutes=30)
    await sleep_until(j, night)
    refused = registry.refused
    assert registry.posts == [] and submissions(pathways.engine, j.id) == [(1, "failed", refused)]
    await nightly_registry_job(pathways, registry, night)
    [run] = runs(pathways.engine, "registry")
    assert run.summary == {"enabled": True, "sent": 1}
    assert len(registry.posts) == 1
    assert submissions(pathways.engine, j.id) == [(1, "sent", refused + 1)]

    # The run that continued as new without waiting replays against this code.
    history = await pathways.client.get_workflow_handle(j.id, run_id=first_run).fetch_history()
    await replayer().replay_workflow(history)

"""A worker with more open pathways than its cache holds keeps every one of them moving.

A regional service has thousands of pathways open at once, most waiting for a person. The
worker keeps only some in memory (its sticky cache); the rest are replayed from history when
their next step comes. Here four times as many pathways as the cache holds are referred at
once, every one is parked at MDT review, and then every one gets its MDT decision at the same
moment: each decision must be applied and projected, none may hang.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from pydantic import ValidationError
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select
from temporalio.testing import WorkflowEnvironment

from core.clock import local_date
from core.config import Settings, WorkerSizing
from core.pathways import submit_step
from demo import examples
from models.tables import PathwayRow, TaskRow
from models.vocab import Stage
from tests import payloads
from tests.conftest import Pathways
from worker import build_worker

CACHE = 50
# The stage after each of examples.to_treatment's steps.
STAGES_TO_TREATMENT = [
    Stage.WORKUP,
    Stage.WORKUP,
    Stage.WORKUP,
    Stage.DOSIMETRY_PLANNING,
    Stage.TREATMENT_SCHEDULED,
    Stage.TREATMENT_SCHEDULED,
    Stage.FOLLOW_UP,
]
PATHWAYS = 200
# Small on purpose: four pathways for every cache place, and few slots to share.
SIZING = WorkerSizing(
    max_cached_workflows=CACHE,
    max_concurrent_workflow_tasks=10,
    max_concurrent_activities=4,
    workflow_task_pollers=2,
    activity_task_pollers=2,
)


@pytest.fixture
async def pathways(workflow_env: WorkflowEnvironment, engine: Engine) -> AsyncIterator[Pathways]:
    """A worker sized well below the number of pathways it will carry."""
    task_queue = f"tq-{uuid.uuid4()}"
    with ThreadPoolExecutor(max_workers=SIZING.max_concurrent_activities) as executor:
        worker = build_worker(workflow_env.client, engine, task_queue, executor, sizing=SIZING)
        async with worker:
            p = Pathways(workflow_env, workflow_env.client, task_queue, engine)
            yield p
            await p.terminate_all()


def stages(engine: Engine, ids: list[str]) -> dict[str, int]:
    """How many of ``ids`` the read model shows in each stage."""
    with Session(engine) as session:
        stmt = (
            select(PathwayRow.stage, func.count())
            .where(col(PathwayRow.id).in_(ids))
            .group_by(PathwayRow.stage)
        )
        return {stage: n for stage, n in session.exec(stmt).all()}


async def wait_for_read_model(engine: Engine, ids: list[str], expected: dict[str, int]) -> None:
    """Poll the read model (bounded) until it shows ``expected``; the projection is async."""
    for _ in range(1200):
        if stages(engine, ids) == expected:
            return
        await asyncio.sleep(0.1)
    assert stages(engine, ids) == expected


async def test_four_times_the_cache_all_get_their_mdt_decision(
    pathways: Pathways, engine: Engine
) -> None:
    handles = await asyncio.gather(*(pathways.start(payloads.referral()) for _ in range(PATHWAYS)))
    ids = [h.id for h in handles]
    assert len(set(ids)) == PATHWAYS
    await wait_for_read_model(engine, ids, {Stage.MDT_REVIEW: PATHWAYS})

    today = local_date(await pathways.env.get_current_time())
    decided = await asyncio.gather(
        *(submit_step(pathways.client, i, "mdt-decision", payloads.mdt(today)) for i in ids)
    )

    assert [s.stage for s in decided] == [Stage.WORKUP] * PATHWAYS
    await wait_for_read_model(engine, ids, {Stage.WORKUP: PATHWAYS})
    with Session(engine) as session:
        booking = select(func.count()).where(
            col(TaskRow.pathway_id).in_(ids),
            TaskRow.kind == "schedule_workup",
            TaskRow.state == "open",
        )
        assert session.exec(booking).one() == PATHWAYS


async def test_three_times_the_cache_all_take_their_steps_to_treatment_at_once(
    pathways: Pathways, engine: Engine
) -> None:
    # Every pathway takes its seven steps from MDT review to treatment one after another,
    # all pathways at once: at any moment about three times as many pathways have a step in
    # flight as the cache holds. With the projection as a remote activity this stalled a
    # dev-server worker (docs/decisions.md, "Scale"); each chain must finish.
    n = 3 * CACHE
    handles = await asyncio.gather(*(pathways.start(payloads.referral()) for _ in range(n)))
    ids = [h.id for h in handles]
    await wait_for_read_model(engine, ids, {Stage.MDT_REVIEW: n})
    today = local_date(await pathways.env.get_current_time())
    plan = examples.to_treatment(today)

    async def to_treatment(pathway_id: str) -> list[Stage]:
        return [
            (await submit_step(pathways.client, pathway_id, step, payload)).stage
            for step, payload in plan
        ]

    stages_seen = await asyncio.gather(*(to_treatment(i) for i in ids))

    assert stages_seen == [STAGES_TO_TREATMENT] * n
    await wait_for_read_model(engine, ids, {Stage.FOLLOW_UP: n})


def test_the_worker_is_sized_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIRT_WORKER_MAX_CACHED_WORKFLOWS", "300")
    monkeypatch.setenv("SIRT_WORKER_MAX_CONCURRENT_WORKFLOW_TASKS", "30")
    sizing = Settings(_env_file=None).worker_sizing
    assert (sizing.max_cached_workflows, sizing.max_concurrent_workflow_tasks) == (300, 30)
    assert (sizing.max_concurrent_activities, sizing.workflow_task_pollers) == (8, 4)


def test_more_workflow_task_slots_than_cached_pathways_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SIRT_WORKER_MAX_CACHED_WORKFLOWS", "50")
    monkeypatch.setenv("SIRT_WORKER_MAX_CONCURRENT_WORKFLOW_TASKS", "60")
    with pytest.raises(ValidationError) as refused:
        _ = Settings(_env_file=None).worker_sizing
    assert "max_concurrent_workflow_tasks: 60 is more than max_cached_workflows (50)" in str(
        refused.value
    )

"""Reading the read model back in tests, to compare it with the workflow's own state."""

import asyncio
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio.client import WorkflowHandle

from models.state import PathwayState
from models.tables import OutboxRow, OutcomeRow, PathwayRow, StageHistoryRow, TaskRow, VisitRow
from models.vocab import Stage


def rows(engine: Engine, table: Any, pathway_id: str) -> list[Any]:
    with Session(engine) as session:
        stmt = select(table).where(col(table.pathway_id) == pathway_id)
        return list(session.exec(stmt).all())


def outbox(engine: Engine, pathway_id: str) -> list[OutboxRow]:
    found: list[OutboxRow] = rows(engine, OutboxRow, pathway_id)
    return sorted(found, key=lambda r: (r.send_at, r.id))


def outcomes(engine: Engine, pathway_id: str) -> list[OutcomeRow]:
    """The pathway's recorded facts, in the order recorded."""
    found: list[OutcomeRow] = rows(engine, OutcomeRow, pathway_id)
    return sorted(found, key=lambda r: (r.recorded_at, int(r.id.removeprefix("o"))))


def assert_read_model_matches(engine: Engine, state: PathwayState) -> None:
    """The read model says exactly what the workflow's state says."""
    pid = state.pathway_id
    with Session(engine) as session:
        row = session.get(PathwayRow, pid)
    assert row is not None
    assert (row.stage, row.next_due_on, row.overdue, row.last_seq) == (
        state.stage,
        state.next_due_on,
        state.overdue,
        state.seq,
    )
    assert row.treatment_number == state.treatment_number
    assert row.cumulative_lung_dose_gy == state.cumulative_lung_dose_gy
    tasks = {t.id: (t.state, t.due_on, t.overdue, t.role) for t in rows(engine, TaskRow, pid)}
    assert tasks == {t.id: (t.state, t.due_on, t.overdue, t.role) for t in state.tasks.values()}
    visits = {v.id: (v.state, v.due_on) for v in rows(engine, VisitRow, pid)}
    assert visits == {v.id: (v.state, v.due_on) for v in state.visits.values()}
    history = sorted(rows(engine, StageHistoryRow, pid), key=lambda h: h.ordinal)
    assert [h.stage for h in history] == [h.stage for h in state.history]


async def wait_for_stage(handle: WorkflowHandle[Any, Any], stage: Stage) -> PathwayState:
    """Poll the live state until the pathway reaches ``stage`` (the start is asynchronous)."""
    for _ in range(400):
        state: PathwayState = await handle.query("state", result_type=PathwayState)
        if state.stage == stage and state.seq > 0:
            return state
        await asyncio.sleep(0.05)
    raise AssertionError(f"pathway never reached {stage}; it is in {state.stage}")

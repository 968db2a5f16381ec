"""Worklists: my open tasks (overdue first, snoozed last), the team's, and snoozing a task."""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path
from starlette.concurrency import run_in_threadpool

from api import audit, queries
from api.accounts import Principal
from api.audit import Outcome
from api.deps import CtxDep, identity_visible, require
from api.routes.pathways import PathwayId
from api.schemas import SnoozeRequest, SnoozeResult, Worklist
from api.service import ApiError

router = APIRouter(tags=["worklist"])


async def _worklist(ctx: CtxDep, who: Principal, *, team: bool) -> Worklist:
    now = await ctx.clock()
    today = await ctx.today()
    with_identity = identity_visible(who)
    result = await run_in_threadpool(
        lambda: queries.worklist(
            ctx.engine,
            user_id=who.user_id,
            role=None if team else who.role,
            with_identity=with_identity,
            now=now,
            today=today,
            horizon_days=ctx.api.worklist_horizon_days,
        )
    )
    if with_identity and result.items:
        await run_in_threadpool(
            audit.record,
            ctx.engine,
            who,
            "worklist:team" if team else "worklist:view",
            Outcome.OK,
            detail=f"{len(result.items)} tasks with identity",
        )
    return result


@router.get("/worklist", response_model=Worklist)
async def my_worklist(
    ctx: CtxDep, who: Annotated[Principal, Depends(require("worklist:view"))]
) -> Worklist:
    """Actionable tasks for my role (due within the horizon, or overdue): overdue first, then
    by due date; tasks I snoozed at the end. Later tasks are counted per patient."""
    return await _worklist(ctx, who, team=False)


@router.get("/worklist/team", response_model=Worklist)
async def team_worklist(
    ctx: CtxDep, who: Annotated[Principal, Depends(require("worklist:team"))]
) -> Worklist:
    """Every open task, whoever it waits for, in the same order."""
    return await _worklist(ctx, who, team=True)


@router.post(
    "/tasks/{pathway_id}/{task_id}/snooze",
    response_model=SnoozeResult,
    responses={404: {"description": "No such open task on my worklist"}},
)
async def snooze_task(
    pathway_id: PathwayId,
    task_id: Annotated[str, Path(pattern=r"^[a-z0-9_\-]{1,64}$")],
    body: SnoozeRequest,
    ctx: CtxDep,
    who: Annotated[Principal, Depends(require("task:snooze"))],
) -> SnoozeResult:
    """Snooze a task on my worklist: it moves to the bottom until then (for me only)."""
    task = await run_in_threadpool(queries.open_task, ctx.engine, pathway_id, task_id)
    if task is None or task.role != who.role:
        await run_in_threadpool(
            audit.record, ctx.engine, who, "task:snooze", Outcome.NOT_FOUND, pathway_id=pathway_id
        )
        raise ApiError(404, "no such open task on your worklist")
    until = await ctx.clock() + timedelta(days=body.days)
    await run_in_threadpool(queries.snooze, ctx.engine, who.user_id, pathway_id, task_id, until)
    await run_in_threadpool(
        audit.record,
        ctx.engine,
        who,
        "task:snooze",
        Outcome.OK,
        pathway_id=pathway_id,
        detail=f"{task_id} for {body.days} days",
    )
    return SnoozeResult(pathway_id=pathway_id, task_id=task_id, snoozed_until=until)

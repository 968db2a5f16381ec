"""Aggregate figures for ops: counts only, never patient data."""

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool

from api import queries
from api.accounts import Principal
from api.deps import CtxDep, require
from api.schemas import Stats

router = APIRouter(tags=["stats"])


@router.get("/stats", response_model=Stats)
async def stats(ctx: CtxDep, _who: Annotated[Principal, Depends(require("stats:view"))]) -> Stats:
    """Pathways by stage, and how many are overdue."""
    return await run_in_threadpool(queries.stats, ctx.engine)

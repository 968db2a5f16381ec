"""The audit trail, for administrators."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from starlette.concurrency import run_in_threadpool

from api import queries
from api.accounts import Principal
from api.deps import PATHWAY_ID_PATTERN, CtxDep, require
from api.schemas import AuditPage

router = APIRouter(tags=["audit"])


@router.get("/audit", response_model=AuditPage)
async def audit_trail(
    ctx: CtxDep,
    _who: Annotated[Principal, Depends(require("audit:view"))],
    pathway_id: Annotated[str | None, Query(pattern=PATHWAY_ID_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> AuditPage:
    """Audit events, newest first, optionally for one pathway."""
    items = await run_in_threadpool(
        lambda: queries.audit_events(ctx.engine, pathway_id=pathway_id, limit=limit, offset=offset)
    )
    return AuditPage(items=items, limit=limit, offset=offset)

"""The audit trail, for administrators."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api import audit, queries
from api.accounts import Principal
from api.audit import Outcome
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


@router.get("/audit/export.csv", response_class=Response)
async def audit_export(
    ctx: CtxDep, who: Annotated[Principal, Depends(require("audit:view"))]
) -> Response:
    """The whole audit trail as CSV, oldest first; the export is itself audited."""
    await run_in_threadpool(audit.record, ctx.engine, who, "audit:export", Outcome.OK)
    body = await run_in_threadpool(queries.audit_export_csv, ctx.engine)
    return Response(
        body,
        media_type="text/csv",
        headers={
            "Content-Disposition": 'attachment; filename="audit.csv"',
            "Cache-Control": "no-store",
        },
    )

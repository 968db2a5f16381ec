"""Health checks for process supervisors and load balancers (no sign-in, no patient data)."""

from datetime import timedelta

from fastapi import APIRouter
from sqlalchemy import Engine, text
from starlette.concurrency import run_in_threadpool
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

from api.deps import CtxDep

router = APIRouter(include_in_schema=False)


def _ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process serves HTTP. Nothing else is checked, so a dependency's outage
    never gets a healthy web server restarted."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(ctx: CtxDep) -> dict[str, str]:
    """Readiness: the read model and Temporal both answer; otherwise 503 (api.outages)."""
    await run_in_threadpool(_ping, ctx.engine)
    await ctx.temporal().workflow_service.get_system_info(
        GetSystemInfoRequest(), retry=False, timeout=timedelta(seconds=3)
    )
    return {"status": "ok"}

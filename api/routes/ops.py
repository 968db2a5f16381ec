"""Service-level views: the ops dashboard, Prometheus metrics, the NICE audit report, the
registry export, iCalendar feeds and notification administration. All pseudonymous."""

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.accounts import Principal
from api.deps import CtxDep, require
from notifications.ack import AckError, acknowledge
from notifications.ics import ics_feed
from notifications.store import count_dead_letters, delivery_counts, retry_dead_letters
from registry.config import RegistrySettings
from registry.export import export_csv, export_json
from reports.audit import audit_report, render_audit_csv, render_audit_html
from reports.dashboard import OpsDashboard, ops_dashboard
from reports.metrics import CONTENT_TYPE, metrics_response

router = APIRouter(tags=["ops"])
metrics_router = APIRouter(tags=["ops"])


class ServiceOverview(BaseModel):
    """The ops dashboard with notification delivery health."""

    dashboard: OpsDashboard
    deliveries: dict[str, int] = Field(description="Delivery attempts by state.")
    dead_letters: int


class AckRequest(BaseModel):
    """Acknowledging an overdue task stops its escalation ladder."""

    note: str | None = Field(default=None, max_length=2000)


def _download(body: str, media_type: str, filename: str) -> Response:
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    return Response(body, media_type=media_type, headers=headers)


@router.get("/ops/dashboard", response_model=ServiceOverview)
async def dashboard(
    ctx: CtxDep, _who: Annotated[Principal, Depends(require("ops:dashboard"))]
) -> ServiceOverview:
    """Pathways by stage, flow per week, overdue tasks, waiting times, reminders."""

    today = (await ctx.clock()).date()

    def build() -> ServiceOverview:
        return ServiceOverview(
            dashboard=ops_dashboard(ctx.engine, today),
            deliveries=delivery_counts(ctx.engine),
            dead_letters=count_dead_letters(ctx.engine),
        )

    return await run_in_threadpool(build)


@router.get("/audit-report", response_class=HTMLResponse)
async def audit_html(
    ctx: CtxDep, _who: Annotated[Principal, Depends(require("report:audit"))]
) -> HTMLResponse:
    """NICE HTG720 3.2-3.4 outcomes, with Kaplan-Meier plots, as one page."""
    report = await run_in_threadpool(audit_report, ctx.engine, (await ctx.clock()).date())
    return HTMLResponse(render_audit_html(report))


@router.get("/audit-report.csv")
async def audit_csv(
    ctx: CtxDep, _who: Annotated[Principal, Depends(require("report:audit"))]
) -> Response:
    """The audit report's tables as CSV."""
    report = await run_in_threadpool(audit_report, ctx.engine, (await ctx.clock()).date())
    return _download(render_audit_csv(report), "text/csv", "sirt-audit.csv")


@router.get("/registry/export.csv")
async def registry_csv(
    ctx: CtxDep, _who: Annotated[Principal, Depends(require("registry:export"))]
) -> Response:
    """Pseudonymised registry records of every treated patient (see the data dictionary)."""
    body = await run_in_threadpool(export_csv, ctx.engine, RegistrySettings())
    return _download(body, "text/csv", "sirt-registry.csv")


@router.get("/registry/export.json")
async def registry_json(
    ctx: CtxDep, _who: Annotated[Principal, Depends(require("registry:export"))]
) -> Response:
    """The same records as JSON."""
    body = await run_in_threadpool(export_json, ctx.engine, RegistrySettings())
    return _download(body, "application/json", "sirt-registry.json")


@router.get("/calendars/{role}.ics")
async def calendar(
    role: str, ctx: CtxDep, _who: Annotated[Principal, Depends(require("calendar:view"))]
) -> Response:
    """Upcoming procedures and follow-up visits for a role, with pseudonymous summaries."""
    try:
        body = await run_in_threadpool(ics_feed, ctx.engine, role, await ctx.clock())
    except ValueError as exc:
        raise HTTPException(404, str(exc)) from None
    return Response(body, media_type="text/calendar")


@router.post("/pathways/{pathway_id}/tasks/{task_id}/ack")
async def ack(
    pathway_id: str,
    task_id: str,
    body: AckRequest,
    ctx: CtxDep,
    who: Annotated[Principal, Depends(require("task:ack"))],
) -> dict[str, str]:
    """Acknowledge an overdue task: further escalations for it are not sent."""
    try:
        await run_in_threadpool(
            acknowledge, ctx.engine, pathway_id, task_id, who.username, body.note
        )
    except AckError as exc:
        raise HTTPException(409, str(exc)) from None
    return {"pathway_id": pathway_id, "task_id": task_id, "acknowledged_by": who.username}


@router.post("/ops/dead-letters/retry")
async def retry(
    ctx: CtxDep, _who: Annotated[Principal, Depends(require("notifications:admin"))]
) -> dict[str, int]:
    """Queue every dead-lettered message for delivery again."""
    queued = await run_in_threadpool(retry_dead_letters, ctx.engine, await ctx.clock())
    return {"queued": queued}


@metrics_router.get("/metrics")
async def metrics(
    ctx: CtxDep, _who: Annotated[Principal, Depends(require("ops:metrics"))]
) -> Response:
    """Prometheus metrics (scrape with an ops bearer token)."""
    body = await run_in_threadpool(metrics_response, ctx.engine)
    return Response(body, media_type=CONTENT_TYPE)

"""Service-level views: the ops dashboard, Prometheus metrics, the NICE audit report, the
registry export, iCalendar feeds and notification administration. All pseudonymous."""

import re
from datetime import UTC, date, datetime
from typing import Annotated
from urllib.parse import quote, urlencode

import httpx
from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field
from sqlmodel import Session, func, select
from starlette.concurrency import run_in_threadpool
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError

from api import audit
from api.accounts import Principal
from api.audit import Outcome
from api.context import AppContext
from api.deps import CtxDep, is_pathway_id, require
from api.outages import temporal_unreachable
from api.schemas import UtcDateTime
from api.telemetry import latency_exposition
from core.config import Settings
from intake.store import ChannelCounts, channel_counts
from intake.store import exposition as intake_exposition
from models.tables import PathwayRow
from models.vocab import Stage
from notifications.ack import AckError, AckNotYours, acknowledge
from notifications.ics import ics_feed
from notifications.store import count_dead_letters, delivery_counts, retry_dead_letters
from outbound.publish import SinkBacklog, configured_sink_names, sink_backlogs
from outbound.publish import exposition as events_exposition
from registry.config import RegistrySettings
from registry.export import bundles_json, export_csv, export_json
from registry.record import load_records, pseudonym
from reports.audit import AuditReport, audit_report, render_audit_csv, render_audit_html
from reports.dashboard import DashboardConfig, OpsDashboard, ops_dashboard
from reports.metrics import CONTENT_TYPE, metrics_response

router = APIRouter(tags=["ops"])
metrics_router = APIRouter(tags=["ops"])


class TemporalHealth(BaseModel):
    """Is anyone polling the pathway task queue? (From the Temporal service itself.)"""

    task_queue: str
    workflow_pollers: int
    activity_pollers: int
    last_poll_at: UtcDateTime | None
    backlog: int | None = Field(
        default=None, description="Approximate tasks waiting for a worker (both kinds)."
    )
    error: str | None = None


class ServiceOverview(BaseModel):
    """The ops dashboard with notification delivery and engine health."""

    dashboard: OpsDashboard
    deliveries: dict[str, int] = Field(description="Delivery attempts by state.")
    dead_letters: int
    intake: list[ChannelCounts] = Field(
        default_factory=list, description="Inbound channels (HL7v2, FHIR): in, answers, backlog."
    )
    events: list[SinkBacklog] = Field(
        default_factory=list,
        description="Pathway events out, per sink (webhook, NATS): queued and the lag.",
    )
    temporal: TemporalHealth
    last_projection_at: UtcDateTime | None = Field(
        description="When a pathway activity last wrote the read model successfully."
    )
    temporal_ui_by_stage: dict[str, str] = Field(
        description="Temporal Web UI lists filtered by stage (search attribute PathwayStage)."
    )


async def temporal_health(client: Client, namespace: str, queue: str) -> TemporalHealth:
    """Pollers on the pathway task queue; an unreachable server is reported, not raised."""
    counts: dict[int, int] = {}
    backlog = 0
    last: UtcDateTime | None = None
    try:
        for kind in (
            TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
        ):
            described = await client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=namespace,
                    task_queue=TaskQueue(name=queue),
                    task_queue_type=kind,
                    report_stats=True,
                )
            )
            counts[kind] = len(described.pollers)
            backlog += described.stats.approximate_backlog_count
            for poller in described.pollers:
                seen = poller.last_access_time.ToDatetime(tzinfo=UTC)
                last = max(last, seen) if last else seen
    except (RPCError, RuntimeError) as exc:
        if isinstance(exc, RuntimeError) and not temporal_unreachable(exc):
            raise
        # The dashboard still shows the read model's figures, with the engine marked down.
        return TemporalHealth(
            task_queue=queue, workflow_pollers=0, activity_pollers=0, last_poll_at=None,
            error=exc.message if isinstance(exc, RPCError) else str(exc).splitlines()[0],
        )  # fmt: skip
    return TemporalHealth(
        task_queue=queue,
        workflow_pollers=counts[TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW],
        activity_pollers=counts[TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY],
        last_poll_at=last,
        backlog=backlog,
    )


def ui_links(settings: Settings) -> dict[str, str]:
    """Links into the Temporal Web UI, one per stage."""
    # Through the app's proxy (signed-in ops and admin only), never the UI's own address.
    path = settings.temporal_ui_public_path.rstrip("/")
    base = f"{path}/namespaces/{settings.temporal_namespace}/workflows"
    return {stage: base + "?query=" + quote(f"PathwayStage='{stage}'") for stage in Stage}


def dashboard_config(ctx: AppContext) -> DashboardConfig:
    """The dashboard's settings: the worklists' horizon, so both count the same tasks."""
    return DashboardConfig(horizon_days=ctx.api.worklist_horizon_days)


async def service_overview(ctx: AppContext, as_of: date | None = None) -> ServiceOverview:
    """Everything the ops dashboard shows, for the JSON API and the page, as of a day."""
    today = as_of or await ctx.today()

    def from_read_model() -> tuple[OpsDashboard, dict[str, int], int, datetime | None]:
        engine = ctx.engine
        with Session(engine) as session:
            last = session.exec(select(func.max(PathwayRow.updated_at))).one()
        dashboard = ops_dashboard(engine, today, dashboard_config(ctx))
        return dashboard, delivery_counts(engine), count_dead_letters(engine), last

    dashboard, deliveries, dead, last_projection = await run_in_threadpool(from_read_model)
    intake = await run_in_threadpool(channel_counts, ctx.engine)
    sinks = configured_sink_names(ctx.settings)
    events = await run_in_threadpool(sink_backlogs, ctx.engine, await ctx.clock(), sinks)
    return ServiceOverview(
        dashboard=dashboard,
        deliveries=deliveries,
        dead_letters=dead,
        intake=intake,
        events=events,
        last_projection_at=last_projection,
        temporal=await temporal_health(
            ctx.temporal(), ctx.settings.temporal_namespace, ctx.settings.task_queue
        ),
        temporal_ui_by_stage=ui_links(ctx.settings),
    )


class AckRequest(BaseModel):
    """Acknowledging an overdue task stops its escalation ladder."""

    note: str | None = Field(default=None, max_length=2000)


def _download(body: str, media_type: str, filename: str) -> Response:
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    return Response(body, media_type=media_type, headers=headers)


AsOf = Annotated[
    date | None, Query(description="Report as of this date (default today); e.g. a past audit.")
]


@router.get("/ops/dashboard", response_model=ServiceOverview)
async def dashboard(
    ctx: CtxDep, _who: Annotated[Principal, Depends(require("ops:dashboard"))], as_of: AsOf = None
) -> ServiceOverview:
    """Pathways by stage, flow per week, overdue tasks, waiting times, reminders, engine."""
    return await service_overview(ctx, as_of)


async def audit_report_for(ctx: AppContext, as_of: date | None) -> AuditReport:
    """The audit report as of that day (today by default)."""
    day = as_of or await ctx.today()
    return await run_in_threadpool(audit_report, ctx.engine, day)


@router.get("/audit-report", response_class=HTMLResponse)
async def audit_html(
    ctx: CtxDep, _who: Annotated[Principal, Depends(require("report:audit"))], as_of: AsOf = None
) -> HTMLResponse:
    """NICE HTG720 3.2-3.4 outcomes, with Kaplan-Meier plots, as one page (the plots are
    images the app serves: its CSP allows no data URIs)."""
    query = "?" + urlencode({"as_of": as_of.isoformat()}) if as_of else ""
    report = await audit_report_for(ctx, as_of)
    return HTMLResponse(render_audit_html(report, lambda kind: f"/audit/{kind}.png{query}"))


@router.get("/audit-report.csv")
async def audit_csv(
    ctx: CtxDep, _who: Annotated[Principal, Depends(require("report:audit"))], as_of: AsOf = None
) -> Response:
    """The audit report's tables as CSV."""
    report = await audit_report_for(ctx, as_of)
    return _download(render_audit_csv(report), "text/csv", "sirt-audit.csv")


def _registry_settings() -> RegistrySettings:
    """The registry settings, checked up front: an export without its pseudonym secret is
    refused whole (409 naming the setting), even while no record would need it yet."""
    settings = RegistrySettings()
    pseudonym("pathway-check", settings)
    return settings


@router.get("/registry/export.csv")
async def registry_csv(
    ctx: CtxDep, _who: Annotated[Principal, Depends(require("registry:export"))]
) -> Response:
    """Pseudonymised registry records of every treated patient (see the data dictionary)."""
    body = await run_in_threadpool(export_csv, ctx.engine, _registry_settings())
    return _download(body, "text/csv", "sirt-registry.csv")


@router.get("/registry/export.json")
async def registry_json(
    ctx: CtxDep, _who: Annotated[Principal, Depends(require("registry:export"))]
) -> Response:
    """The same records as JSON."""
    body = await run_in_threadpool(export_json, ctx.engine, _registry_settings())
    return _download(body, "application/json", "sirt-registry.json")


@router.get("/registry/export.fhir.json")
async def registry_fhir(
    ctx: CtxDep, _who: Annotated[Principal, Depends(require("registry:export"))]
) -> Response:
    """One FHIR Bundle per treated patient (Patient, Procedure, Observation, AdverseEvent,
    QuestionnaireResponse, CarePlan), each validated by fhir.resources, as a JSON array."""
    settings = _registry_settings()

    def bundles() -> str:
        return "[" + ",".join(bundles_json(load_records(ctx.engine, settings), settings)) + "]"

    body = await run_in_threadpool(bundles)
    return _download(body, "application/fhir+json", "sirt-registry-bundles.json")


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


_TASK_ID = re.compile(r"[A-Za-z0-9_:.-]{1,64}")


def _task_detail(task_id: str) -> str | None:
    # Only a well-formed task id goes into the audit trail: the path is the caller's text.
    return f"task {task_id}" if _TASK_ID.fullmatch(task_id) else None


@router.post("/pathways/{pathway_id}/tasks/{task_id}/ack")
async def ack(
    pathway_id: str,
    task_id: str,
    body: AckRequest,
    ctx: CtxDep,
    who: Annotated[Principal, Depends(require("task:ack"))],
) -> dict[str, str]:
    """Acknowledge an overdue task: further escalations for it are not sent.

    Only the task's role (or a role its escalation went to), only while it is open; audited.
    """
    if not is_pathway_id(pathway_id):
        raise HTTPException(404, "pathway_id: no such pathway")
    try:
        await run_in_threadpool(
            lambda: acknowledge(
                ctx.engine, pathway_id, task_id, who.username, body.note, role=who.role
            )
        )
    except AckError as exc:
        outcome = Outcome.DENIED if isinstance(exc, AckNotYours) else Outcome.CONFLICT
        await run_in_threadpool(
            audit.record,
            ctx.engine,
            who,
            "task:ack",
            outcome,
            pathway_id=pathway_id,
            detail=_task_detail(task_id),
        )
        raise HTTPException(403 if isinstance(exc, AckNotYours) else 409, str(exc)) from None
    await run_in_threadpool(
        audit.record,
        ctx.engine,
        who,
        "task:ack",
        Outcome.OK,
        pathway_id=pathway_id,
        detail=_task_detail(task_id),
    )
    return {"pathway_id": pathway_id, "task_id": task_id, "acknowledged_by": who.username}


@router.post("/ops/dead-letters/retry")
async def retry(
    ctx: CtxDep, _who: Annotated[Principal, Depends(require("notifications:admin"))]
) -> dict[str, int]:
    """Queue every dead-lettered message for delivery again."""
    queued = await run_in_threadpool(retry_dead_letters, ctx.engine, await ctx.clock())
    return {"queued": queued}


@metrics_router.get("/metrics", include_in_schema=False)
async def metrics(
    ctx: CtxDep, _who: Annotated[Principal, Depends(require("ops:metrics"))]
) -> Response:
    """Prometheus metrics (scrape with an ops bearer token)."""
    body = await run_in_threadpool(metrics_response, ctx.engine)
    body += await run_in_threadpool(intake_exposition, ctx.engine)
    sinks = configured_sink_names(ctx.settings)
    body += await run_in_threadpool(events_exposition, ctx.engine, await ctx.clock(), sinks)
    body += latency_exposition() + await sdk_metrics(ctx.settings)
    return Response(body, media_type=CONTENT_TYPE)


async def sdk_metrics(settings: Settings) -> bytes:
    """The Temporal SDK's own metrics, when this process serves them (SIRT_SDK_METRICS_ADDRESS).

    Appended to /metrics so one scrape sees the product and the engine; an unreachable
    exporter costs a comment line, not the scrape.
    """
    if not settings.sdk_metrics_address:
        return b""
    try:
        async with httpx.AsyncClient(timeout=2) as http:
            r = await http.get(f"http://{settings.sdk_metrics_address}/metrics")
            r.raise_for_status()
            return r.content
    except httpx.HTTPError as exc:
        return f"# Temporal SDK metrics unavailable: {type(exc).__name__}\n".encode()

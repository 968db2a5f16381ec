"""The report pages in the app's layout: the NICE audit report and the service dashboard's
charts, each as of a chosen date. Charts and plots are images the app serves itself (SVG or
PNG), so the app's Content-Security-Policy (``default-src 'self'``) lets them load."""

from collections.abc import Callable
from datetime import date
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api.accounts import Principal
from api.context import AppContext
from api.deps import CtxDep, require
from api.routes import ops as ops_routes
from api.service import ApiError
from api.templating import render
from clinical.enums import ClockKind
from reports.audit import audit_body_html, plot_png
from reports.charts import Series, bar_chart
from reports.dashboard import OpsDashboard, ops_dashboard, performance_by_week

router = APIRouter(include_in_schema=False)

AsOf = Annotated[date | None, Query(description="Report as of this date (default today).")]
Chart = Literal["stages", "flow", "ptl", "performance"]
CHARTS: dict[str, str] = {
    "stages": "Pathways by stage",
    "flow": "Referrals in and pathways ended, per ISO week",
    "ptl": "Running waiting-time clocks by days waited (PTL)",
    "performance": "Patients treated within the waiting-time target, per week",
}


def _as_of_query(as_of: date | None) -> str:
    return "?" + urlencode({"as_of": as_of.isoformat()}) if as_of else ""


async def _day(ctx: AppContext, as_of: date | None) -> date:
    return as_of or await ctx.today()


@router.get("/audit")
async def audit_page(
    request: Request,
    ctx: CtxDep,
    who: Annotated[Principal, Depends(require("report:audit"))],
    as_of: AsOf = None,
) -> Response:
    """The NICE audit report inside the app, with its Kaplan-Meier plots as served images."""
    report = await ops_routes.audit_report_for(ctx, as_of)
    query = _as_of_query(as_of)

    def plot_url(kind: str) -> str:
        return f"/audit/{kind}.png{query}"

    return render(
        request,
        "audit.html",
        who,
        title="Audit report",
        active="audit",
        as_of=report.as_of,
        body=audit_body_html(report, plot_url),
        csv_url=f"/api/v1/audit-report.csv{query}",
    )


@router.get("/audit/{kind}.png")
async def audit_plot(
    kind: Literal["os", "pfs"],
    ctx: CtxDep,
    _who: Annotated[Principal, Depends(require("report:audit"))],
    as_of: AsOf = None,
) -> Response:
    """A Kaplan-Meier plot with numbers at risk (PNG, rendered by matplotlib on the server)."""
    png = plot_png(await ops_routes.audit_report_for(ctx, as_of), kind)
    if png is None:
        raise ApiError(404, "no treated patients to plot yet")
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})


def _stage_label(stage: str) -> str:
    return stage.replace("_", " ").capitalize()


def _chart(name: str, dash: OpsDashboard, perf: Callable[[], list[Series]]) -> str:
    title = CHARTS[name]
    if name == "stages":
        cats = [_stage_label(s.stage) for s in dash.by_stage]
        return bar_chart(title, cats, [Series("pathways", [s.pathways for s in dash.by_stage])])
    if name == "flow":
        weeks = [w.week[-3:] for w in dash.flow]
        return bar_chart(
            title,
            weeks,
            [
                Series("referred", [w.entries for w in dash.flow]),
                Series("ended", [w.exits for w in dash.flow]),
            ],
        )
    if name == "ptl":
        labels = list(dash.clocks[0].ptl_buckets)
        return bar_chart(
            title,
            [f"{label} days" for label in labels],
            [Series(c.kind, [c.ptl_buckets[label] for label in labels]) for c in dash.clocks],
        )
    return bar_chart(title, [w.week[-3:] for w in dash.flow], perf(), percent=True)


@router.get("/ops/charts/{name}.svg")
async def ops_chart(
    name: Chart,
    ctx: CtxDep,
    _who: Annotated[Principal, Depends(require("ops:dashboard"))],
    as_of: AsOf = None,
) -> Response:
    """One of the dashboard's charts as SVG."""
    day = await _day(ctx, as_of)
    config = ops_routes.dashboard_config(ctx)
    dash = await run_in_threadpool(ops_dashboard, ctx.engine, day, config)

    def perf() -> list[Series]:
        weeks = performance_by_week(ctx.engine, day, config)
        return [
            Series(
                f"{kind} (standard {100 * config.standard_share[kind]:g}%)",
                [100 * (w.share_within_target[kind] or 0) for w in weeks],
            )
            for kind in ClockKind
        ]

    svg = await run_in_threadpool(_chart, name, dash, perf)
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "no-store"})

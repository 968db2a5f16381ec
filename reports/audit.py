"""The NICE HTG720 audit (recommendations 3.2-3.4): outcomes of treated patients with the
details of their selection, side by side with published figures.

Built from the registry records (one per treated patient), so the audit and the registry
agree by construction. Times run from the first SIRT. A patient alive on the report date is
censored at the last contact recorded (treatment, visit, reported event), not at the report
date: silence is not survival. Anything recorded after ``as_of`` is ignored.
"""

import base64
import html
import io
import math
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Literal

from lifelines import KaplanMeierFitter  # type: ignore[import-untyped]
from lifelines.plotting import add_at_risk_counts  # type: ignore[import-untyped]
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine

from clinical.recist import Response, is_disease_control, is_objective_response
from core.csvsafe import write_rows
from registry.config import RegistrySettings
from registry.record import RESPONSE_VISIT_CODE, RegistryRecord, load_records


class AuditConfig(BaseModel):
    """What the audit reports; a centre may change any of it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    survival_months: tuple[int, ...] = (12, 24, 36)
    mortality_days: tuple[int, ...] = (30, 90)
    days_per_month: float = Field(default=365.25 / 12, description="Months shown = days / this.")
    censor_at: Literal["last_contact", "report_date"] = "last_contact"
    breakdown: tuple[str, ...] = (
        "primary_site",
        "ecog",
        "tumour_burden_over_threshold",
        "extent",
        "device",
    )
    plot_max_months: int = 60


DEFAULT_AUDIT = AuditConfig()


class Rate(BaseModel):
    """Events among a denominator."""

    events: int
    n: int
    rate: float | None


class SurvivalSummary(BaseModel):
    """Kaplan-Meier summary of one endpoint."""

    n: int
    events: int
    median_months: float | None
    survival_at_months: dict[int, float | None]


class QolChange(BaseModel):
    """Mean change of QLQ-C30 global health status (0-100) from the first score to a visit."""

    visit: str
    n: int
    mean_change: float | None


class GroupRow(BaseModel):
    """Outcomes of one level of one patient-selection variable."""

    variable: str
    level: str
    n: int
    os: SurvivalSummary
    orr_3m: Rate
    dcr_3m: Rate
    prs: Rate
    grade3_clinical: Rate


class PublishedFigure(BaseModel):
    """A published figure to compare with (DOMAIN.md, 'Published outcomes')."""

    metric: str
    label: str
    published: str
    source: str


# From /work/shared/DOMAIN.md "Published outcomes" (for comparison, not for assertions).
PUBLISHED: tuple[PublishedFigure, ...] = tuple(
    PublishedFigure(metric=m, label=label, published=p, source=s)
    for m, label, p, s in (
        ("dcr_3m", "Disease control at 3 months", "86-88%", "Pooled reviews"),
        ("orr_3m", "Objective response", "15-51%", "Pooled reviews"),
        (
            "os_median_months",
            "Median overall survival",
            "28-36 months",
            "RESiN 33; CIRT NET cohort 33.1; review 28",
        ),
        ("os_12m", "Overall survival at 1 year", "72-80%", "Reviews"),
        ("os_24m", "Overall survival at 2 years", "57-66%", "Reviews"),
        ("os_36m", "Overall survival at 3 years", "45-46%", "Reviews"),
        ("prs", "Post-radioembolisation syndrome", "30-55%", "Reviews"),
        ("reild", "REILD", "0-5%", "Reviews"),
        ("grade3_clinical", "Grade >= 3 clinical toxicity", "~5-10%", "Reviews"),
        ("mortality_30d", "30-day mortality", "~1%", "Reviews"),
    )
)


class AuditReport(BaseModel):
    """The audit as of a date; plots are base64 PNG."""

    as_of: date
    treated: int
    os: SurvivalSummary
    hepatic_pfs: SurvivalSummary
    orr_3m: Rate
    dcr_3m: Rate
    symptom_response_3m: Rate
    qol_change: list[QolChange]
    prs: Rate
    reild: Rate
    grade3_clinical: Rate
    grade3_biochemical: Rate
    mortality: dict[int, Rate]
    breakdown: list[GroupRow]
    published: list[PublishedFigure]
    observed: dict[str, str]
    os_plot_png: str | None = None
    pfs_plot_png: str | None = None


# ------------------------------------------------------------------ per-patient times


class _Times(BaseModel):
    os_days: int
    os_event: bool
    pfs_days: int
    pfs_event: bool


def _times(r: RegistryRecord, as_of: date, config: AuditConfig) -> _Times:
    """Survival times as of ``as_of``; events after it are not yet known."""
    start = r.first_treatment_on
    alive_until = as_of if config.censor_at == "report_date" else min(r.last_known_alive_on, as_of)
    died = r.died_on if r.died_on is not None and r.died_on <= as_of else None
    if died is not None:
        os_days, os_event = (died - start).days, True
    else:
        os_days, os_event = (alive_until - start).days, False
    progression = r.hepatic_progression_on
    events = [d for d in (progression, died) if d is not None and d <= as_of]
    if events:
        pfs_days, pfs_event = (min(events) - start).days, True
    else:
        pfs_days, pfs_event = (alive_until - start).days, False
    return _Times(os_days=os_days, os_event=os_event, pfs_days=pfs_days, pfs_event=pfs_event)


def _km(durations: Sequence[float], events: Sequence[bool]) -> KaplanMeierFitter | None:
    if not durations:
        return None
    kmf = KaplanMeierFitter()
    kmf.fit(list(durations), event_observed=list(events))
    return kmf


def survival_summary(
    durations_days: Sequence[int], events: Sequence[bool], config: AuditConfig = DEFAULT_AUDIT
) -> SurvivalSummary:
    """Kaplan-Meier median and survival at the configured months."""
    kmf = _km(durations_days, events)
    at: dict[int, float | None] = dict.fromkeys(config.survival_months)
    median = None
    if kmf is not None:
        for months in config.survival_months:
            days = months * config.days_per_month
            # Beyond the longest follow-up the estimate is undefined, not the last value.
            if days <= max(durations_days):
                at[months] = float(kmf.survival_function_at_times(days).iloc[0])
        m = float(kmf.median_survival_time_)
        median = None if math.isinf(m) else m / config.days_per_month
    return SurvivalSummary(
        n=len(durations_days),
        events=sum(events),
        median_months=median,
        survival_at_months=at,
    )


def _rate(events: int, n: int) -> Rate:
    return Rate(events=events, n=n, rate=events / n if n else None)


def _flag_rate(records: Sequence[RegistryRecord], flag: Callable[[RegistryRecord], bool]) -> Rate:
    return _rate(sum(1 for r in records if flag(r)), len(records))


def _response_3m(r: RegistryRecord, as_of: date) -> Response | None:
    visit = next(
        (v for v in r.visits if v.treatment_number == 1 and v.code == RESPONSE_VISIT_CODE), None
    )
    if visit is None or visit.visit_date > as_of or not r.response_3m:
        return None
    response = Response(r.response_3m)
    return None if response == Response.NE else response


def _responses(records: Sequence[RegistryRecord], as_of: date) -> tuple[Rate, Rate]:
    assessed = [x for r in records if (x := _response_3m(r, as_of)) is not None]
    orr = sum(1 for x in assessed if is_objective_response(x))
    dcr = sum(1 for x in assessed if is_disease_control(x))
    return _rate(orr, len(assessed)), _rate(dcr, len(assessed))


def _mortality(records: Sequence[RegistryRecord], as_of: date, days: int) -> Rate:
    """Deaths within ``days`` of SIRT among patients treated at least that long ago."""
    events = n = 0
    for r in records:
        died_early = r.died_on is not None and r.died_on <= as_of
        died_within = (
            died_early
            and r.died_on is not None
            and ((r.died_on - r.first_treatment_on).days <= days)
        )
        if r.first_treatment_on + timedelta(days=days) <= as_of or died_within:
            n += 1
            events += int(died_within)
    return _rate(events, n)


def _qol(records: Sequence[RegistryRecord], visit: str) -> QolChange:
    pairs = [
        (r.qlq_c30_global_first, getattr(r, f"qlq_c30_global_{visit}"))
        for r in records
        if r.qlq_c30_global_first is not None and getattr(r, f"qlq_c30_global_{visit}") is not None
    ]
    changes = [after - before for before, after in pairs]
    mean = sum(changes) / len(changes) if changes else None
    return QolChange(visit=visit, n=len(changes), mean_change=mean)


def _level(r: RegistryRecord, variable: str, threshold: float) -> str:
    value = getattr(r, variable)
    if value is None:
        return "unknown"
    if variable == "tumour_burden_over_threshold":
        return f"> {threshold:g}%" if value else f"<= {threshold:g}%"
    return str(value)


def _plot(kmf: KaplanMeierFitter | None, title: str, label: str, config: AuditConfig) -> str | None:
    """A KM curve with numbers at risk, as base64 PNG (Agg canvas: no GUI, thread-safe)."""
    if kmf is None:
        return None
    fig = Figure(figsize=(7, 4.8), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(111)
    kmf.plot_survival_function(ax=ax, label=label, ci_show=True)
    ax.set_title(title)
    ax.set_xlabel("days since first SIRT")
    ax.set_ylabel("probability")
    ax.set_ylim(0, 1.05)
    ax.set_xlim(0, config.plot_max_months * config.days_per_month)
    add_at_risk_counts(kmf, ax=ax, fig=fig)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode()


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{100 * rate:.1f}%"


def _observed(report: AuditReport) -> dict[str, str]:
    os = report.os
    return {
        "dcr_3m": _pct(report.dcr_3m.rate),
        "orr_3m": _pct(report.orr_3m.rate),
        "os_median_months": "not reached"
        if os.median_months is None
        else f"{os.median_months:.1f} months",
        **{f"os_{m}m": _pct(v) for m, v in os.survival_at_months.items()},
        "prs": _pct(report.prs.rate),
        "reild": _pct(report.reild.rate),
        "grade3_clinical": _pct(report.grade3_clinical.rate),
        "mortality_30d": _pct(report.mortality[30].rate) if 30 in report.mortality else "-",
    }


def audit_from_records(
    records: Sequence[RegistryRecord],
    as_of: date,
    config: AuditConfig = DEFAULT_AUDIT,
    threshold_pct: float = 25.0,
    plots: bool = True,
) -> AuditReport:
    """The audit of these records as of a date (pure: the tests call it directly)."""
    treated = [r for r in records if r.first_treatment_on <= as_of]
    times = [_times(r, as_of, config) for r in treated]
    os = survival_summary([t.os_days for t in times], [t.os_event for t in times], config)
    pfs = survival_summary([t.pfs_days for t in times], [t.pfs_event for t in times], config)
    orr, dcr = _responses(treated, as_of)
    symptoms = [r.symptom_response_3m for r in treated if r.symptom_response_3m is not None]
    groups: list[GroupRow] = []
    for variable in config.breakdown:
        levels: dict[str, list[int]] = {}
        for i, r in enumerate(treated):
            levels.setdefault(_level(r, variable, threshold_pct), []).append(i)
        for level in sorted(levels):
            idx = levels[level]
            sub = [treated[i] for i in idx]
            g_orr, g_dcr = _responses(sub, as_of)
            groups.append(
                GroupRow(
                    variable=variable,
                    level=level,
                    n=len(sub),
                    os=survival_summary(
                        [times[i].os_days for i in idx], [times[i].os_event for i in idx], config
                    ),
                    orr_3m=g_orr,
                    dcr_3m=g_dcr,
                    prs=_flag_rate(sub, lambda r: bool(r.prs)),
                    grade3_clinical=_flag_rate(sub, lambda r: r.grade3_clinical_toxicity),
                )
            )
    report = AuditReport(
        as_of=as_of,
        treated=len(treated),
        os=os,
        hepatic_pfs=pfs,
        orr_3m=orr,
        dcr_3m=dcr,
        symptom_response_3m=_rate(sum(symptoms), len(symptoms)),
        qol_change=[_qol(treated, "3m"), _qol(treated, "6m")],
        prs=_flag_rate(treated, lambda r: bool(r.prs)),
        reild=_flag_rate(treated, lambda r: bool(r.reild)),
        grade3_clinical=_flag_rate(treated, lambda r: r.grade3_clinical_toxicity),
        grade3_biochemical=_flag_rate(treated, lambda r: r.grade3_biochemical_toxicity),
        mortality={d: _mortality(treated, as_of, d) for d in config.mortality_days},
        breakdown=groups,
        published=list(PUBLISHED),
        observed={},
    )
    report.observed = _observed(report)
    if plots and treated:
        kmf_os = _km([t.os_days for t in times], [t.os_event for t in times])
        kmf_pfs = _km([t.pfs_days for t in times], [t.pfs_event for t in times])
        report.os_plot_png = _plot(kmf_os, "Overall survival", "OS", config)
        report.pfs_plot_png = _plot(kmf_pfs, "Hepatic progression-free survival", "hPFS", config)
    return report


def audit_report(
    engine: Engine,
    as_of: date,
    config: AuditConfig = DEFAULT_AUDIT,
    settings: RegistrySettings | None = None,
) -> AuditReport:
    """The NICE audit of every treated patient in the read model, as of ``as_of``."""
    settings = settings or RegistrySettings(pseudonym_mode="pathway_id")
    records = load_records(engine, settings)
    return audit_from_records(records, as_of, config, settings.tumour_burden_threshold_pct)


# ------------------------------------------------------------------ rendering


def _rate_cells(rate: Rate) -> str:
    return f"{_pct(rate.rate)} ({rate.events}/{rate.n})"


def audit_rows(report: AuditReport) -> list[list[str]]:
    """The report's tables in long form: section, group, level, metric, value, n, published."""
    published = {p.metric: p.published for p in report.published}
    rows: list[list[str]] = []

    def add(
        section: str, metric: str, value: str, n: int | str, group: str = "", level: str = ""
    ) -> None:
        rows.append([section, group, level, metric, value, str(n), published.get(metric, "")])

    os, pfs = report.os, report.hepatic_pfs
    for name, s in (("os", os), ("hepatic_pfs", pfs)):
        median = "not reached" if s.median_months is None else f"{s.median_months:.1f}"
        add("efficacy", f"{name}_median_months", median, s.n)
        for months, estimate in s.survival_at_months.items():
            add("efficacy", f"{name}_{months}m", _pct(estimate), s.n)
    for metric, rate in (
        ("orr_3m", report.orr_3m),
        ("dcr_3m", report.dcr_3m),
        ("symptom_response_3m", report.symptom_response_3m),
    ):
        add("efficacy", metric, _pct(rate.rate), rate.n)
    for q in report.qol_change:
        change = "-" if q.mean_change is None else f"{q.mean_change:+.1f}"
        add("quality_of_life", f"qlq_c30_global_change_{q.visit}", change, q.n)
    for metric, rate in (
        ("prs", report.prs),
        ("reild", report.reild),
        ("grade3_clinical", report.grade3_clinical),
        ("grade3_biochemical", report.grade3_biochemical),
    ):
        add("safety", metric, _pct(rate.rate), rate.n)
    for days, rate in report.mortality.items():
        add("safety", f"mortality_{days}d", _pct(rate.rate), rate.n)
    for g in report.breakdown:
        median = "not reached" if g.os.median_months is None else f"{g.os.median_months:.1f}"
        for metric, cell in (
            ("os_median_months", median),
            ("os_12m", _pct(g.os.survival_at_months.get(12))),
            ("orr_3m", _pct(g.orr_3m.rate)),
            ("dcr_3m", _pct(g.dcr_3m.rate)),
            ("prs", _pct(g.prs.rate)),
            ("grade3_clinical", _pct(g.grade3_clinical.rate)),
        ):
            add("selection", metric, cell, g.n, g.variable, g.level)
    return rows


AUDIT_CSV_HEADER = ["section", "group", "level", "metric", "value", "n", "published"]


def render_audit_csv(report: AuditReport) -> str:
    """The audit's tables as CSV."""
    return write_rows(AUDIT_CSV_HEADER, audit_rows(report))


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """An NHS.UK table (its classes; the downloadable page's own style ignores them)."""
    head = "".join(
        f'<th scope="col" class="nhsuk-table__header">{html.escape(h)}</th>' for h in header
    )
    body = "".join(
        '<tr class="nhsuk-table__row">'
        + "".join(f'<td class="nhsuk-table__cell">{html.escape(c)}</td>' for c in row)
        + "</tr>"
        for row in rows
    )
    return (
        f'<table class="nhsuk-table"><thead class="nhsuk-table__head">'
        f'<tr class="nhsuk-table__row">{head}</tr></thead>'
        f'<tbody class="nhsuk-table__body">{body}</tbody></table>'
    )


_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem}"
    "table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #bbb;padding:.3rem .6rem;"
    "text-align:left}th{background:#eee}img{max-width:100%}"
)


PLOTS = {"os": "Kaplan-Meier overall survival with numbers at risk",
         "pfs": "Kaplan-Meier hepatic PFS with numbers at risk"}  # fmt: skip


def plot_png(report: AuditReport, kind: str) -> bytes | None:
    """A plot of the report as PNG bytes ("os" or "pfs"); None if there is no curve."""
    encoded = {"os": report.os_plot_png, "pfs": report.pfs_plot_png}.get(kind)
    return base64.b64decode(encoded) if encoded else None


def render_audit_html(report: AuditReport, plot_url: Callable[[str], str] | None = None) -> str:
    """A self-contained HTML page for download (plots inline as data URIs), or with
    ``plot_url`` the plots as images the app serves (its CSP allows no data URIs)."""
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>SIRT audit {report.as_of.isoformat()}</title><style>{_STYLE}</style></head><body>"
        f"<h1>SIRT for NET liver metastases: NICE HTG720 audit</h1>"
        + audit_body_html(report, plot_url)
        + "</body></html>"
    )


def audit_body_html(report: AuditReport, plot_url: Callable[[str], str] | None = None) -> str:
    """The report's sections (no page around them), escaped."""
    comparison = [
        [p.label, report.observed.get(p.metric, "-"), p.published, p.source]
        for p in report.published
    ]
    summary = [
        ["Objective response at 3 months (RECIST 1.1)", _rate_cells(report.orr_3m)],
        ["Disease control at 3 months", _rate_cells(report.dcr_3m)],
        ["Symptom response at 3 months", _rate_cells(report.symptom_response_3m)],
        ["Post-radioembolisation syndrome", _rate_cells(report.prs)],
        ["REILD", _rate_cells(report.reild)],
        ["Grade >= 3 clinical toxicity", _rate_cells(report.grade3_clinical)],
        ["Grade >= 3 biochemical toxicity", _rate_cells(report.grade3_biochemical)],
        *[[f"{d}-day mortality", _rate_cells(r)] for d, r in report.mortality.items()],
        *[
            [
                f"QLQ-C30 global health change to {q.visit} (n={q.n})",
                "-" if q.mean_change is None else f"{q.mean_change:+.1f} points",
            ]
            for q in report.qol_change
        ],
    ]
    survival = []
    for name, s in (("Overall survival", report.os), ("Hepatic PFS", report.hepatic_pfs)):
        median = "not reached" if s.median_months is None else f"{s.median_months:.1f} months"
        cells = [_pct(v) for v in s.survival_at_months.values()]
        survival.append([name, str(s.n), str(s.events), median, *cells])
    months = [f"at {m} months" for m in next(iter([report.os.survival_at_months]))]
    selection = [
        [
            g.variable,
            g.level,
            str(g.n),
            "not reached" if g.os.median_months is None else f"{g.os.median_months:.1f}",
            _pct(g.os.survival_at_months.get(12)),
            _rate_cells(g.orr_3m),
            _rate_cells(g.dcr_3m),
            _rate_cells(g.prs),
            _rate_cells(g.grade3_clinical),
        ]
        for g in report.breakdown
    ]

    def src(kind: str, png: str) -> str:
        return html.escape(plot_url(kind)) if plot_url else f"data:image/png;base64,{png}"

    plots = "".join(
        f'<figure><img alt="{html.escape(PLOTS[kind])}" src="{src(kind, png)}"></figure>'
        for kind, png in (("os", report.os_plot_png), ("pfs", report.pfs_plot_png))
        if png
    )
    return (
        f"<p>As of {report.as_of.isoformat()}; {report.treated} treated patients. Times from the "
        "first SIRT; patients alive are censored at their last recorded contact.</p>"
        '<h2 class="nhsuk-heading-m">Compared with published figures</h2>'
        + _table(["Outcome", "This centre", "Published", "Source"], comparison)
        + '<h2 class="nhsuk-heading-m">Survival (Kaplan-Meier)</h2>'
        + _table(["Endpoint", "n", "events", "median", *months], survival)
        + plots
        + '<h2 class="nhsuk-heading-m">Efficacy and safety (NICE 3.2, 3.3)</h2>'
        + _table(["Outcome", "Rate (events/n)"], summary)
        + '<h2 class="nhsuk-heading-m">By patient selection (NICE 3.4)</h2>'
        + _table(
            ["Variable", "Level", "n", "median OS (months)", "OS 12m", "ORR", "DCR", "PRS", "G>=3"],
            selection,
        )
        + "<p>QLQ-C30 change uses the first score recorded before the 3-month visit as the "
        "baseline: the pathway records no pre-treatment questionnaire.</p>"
    )

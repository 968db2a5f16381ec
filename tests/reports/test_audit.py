"""The NICE audit on a fixed cohort: survival by the Kaplan-Meier product, rates by counting.

The expected survival is computed here from the product-limit formula, S(t) = prod over event
times t_i <= t of (1 - d_i / n_i), on the times listed by hand: not by lifelines.
"""

import base64
from collections.abc import Iterator

import pytest

from reports.audit import AuditReport, audit_report, render_audit_csv, render_audit_html
from tests.reports.support import AUDIT_AS_OF, SEEDED_NAMES, fresh_postgres, insert_audit_cohort

DAYS_PER_MONTH = 365.25 / 12

# Days from the first SIRT, (time, died) per patient, read off the cohort in support.py:
# a died day 200; b alive, last seen day 546; c died day 384; d died day 20;
# e alive, last seen day 92; f treated 1 Apr 2025 (amended from 25 Mar), died day 640.
OS = [(200, True), (546, False), (384, True), (20, True), (92, False), (640, True)]
# Hepatic progression or death: a progressed day 151; c day 89; d, f died; b, e censored.
HPFS = [(151, True), (546, False), (89, True), (20, True), (92, False), (640, True)]


def km(times: list[tuple[int, bool]], t: float) -> float:
    """The product-limit estimate at t."""
    s = 1.0
    for u in sorted({u for u, died in times if died and u <= t}):
        at_risk = sum(1 for v, _ in times if v >= u)
        deaths = sum(1 for v, died in times if v == u and died)
        s *= 1 - deaths / at_risk
    return s


@pytest.fixture(scope="module")
def report() -> Iterator[AuditReport]:
    with fresh_postgres() as engine:
        insert_audit_cohort(engine)
        yield audit_report(engine, AUDIT_AS_OF)


def test_hand_computed_product_limit() -> None:
    # The formula itself, spelled out: 5/6 after day 20, x 3/4 at day 200, x 2/3 at day 384.
    assert km(OS, 365.25) == pytest.approx(5 / 6 * 3 / 4)
    assert km(OS, 400) == pytest.approx(5 / 6 * 3 / 4 * 2 / 3)
    assert km(HPFS, 365.25) == pytest.approx(5 / 6 * 4 / 5 * 2 / 3)


def test_overall_survival(report: AuditReport) -> None:
    os = report.os
    assert (report.treated, os.n, os.events) == (6, 6, 4)
    assert os.survival_at_months[12] == pytest.approx(km(OS, 12 * DAYS_PER_MONTH))
    # 24 and 36 months lie beyond the longest follow-up (640 days): not estimable.
    assert os.survival_at_months[24] is None and os.survival_at_months[36] is None
    # Median: the first time S(t) <= 0.5 is day 384.
    assert os.median_months == pytest.approx(384 / DAYS_PER_MONTH)


def test_hepatic_progression_free_survival(report: AuditReport) -> None:
    pfs = report.hepatic_pfs
    assert (pfs.n, pfs.events) == (6, 4)
    assert pfs.survival_at_months[12] == pytest.approx(km(HPFS, 12 * DAYS_PER_MONTH))
    assert pfs.median_months == pytest.approx(151 / DAYS_PER_MONTH)


def test_response_symptoms_and_quality_of_life(report: AuditReport) -> None:
    # 3-month RECIST: a PR, b SD, c PD, e CR, f PR (the derived response over the read); d none.
    assert (report.orr_3m.events, report.orr_3m.n) == (3, 5)
    assert (report.dcr_3m.events, report.dcr_3m.n) == (4, 5)
    # a: flushes 6 -> 2 (a response); b: 6 -> 5 and stools unchanged (none).
    assert (report.symptom_response_3m.events, report.symptom_response_3m.n) == (1, 2)
    change = {q.visit: q for q in report.qol_change}
    # Global health: a 50 -> 75 (+25), b 60 -> 50 (-10); mean +7.5. No 6-month scores.
    assert change["3m"].n == 2
    assert change["3m"].mean_change == pytest.approx(7.5)
    assert (change["6m"].n, change["6m"].mean_change) == (0, None)


def test_safety(report: AuditReport) -> None:
    assert (report.prs.events, report.prs.n) == (2, 6)  # a and e
    # c graded Braat 3; b met the screen but the clinician graded it 0.
    assert report.reild.events == 1
    # e: PRS symptom grade 3; f: a grade 3 adverse event between visits.
    assert report.grade3_clinical.events == 2
    assert report.grade3_biochemical.events == 1  # a: bilirubin CTCAE grade 3
    # d died on day 20: within 30 and 90 days; everyone was treated over 90 days ago.
    assert (report.mortality[30].events, report.mortality[30].n) == (1, 6)
    assert (report.mortality[90].events, report.mortality[90].n) == (1, 6)


def test_breakdown_by_selection_variables(report: AuditReport) -> None:
    groups = {(g.variable, g.level): g for g in report.breakdown}
    midgut = groups[("primary_site", "midgut")]
    assert midgut.n == 3  # a, b, c
    midgut_os = [OS[0], OS[1], OS[2]]
    assert midgut.os.survival_at_months[12] == pytest.approx(km(midgut_os, 365.25))
    assert groups[("primary_site", "pancreas")].n == 3
    assert groups[("tumour_burden_over_threshold", "> 25%")].n == 4
    assert groups[("tumour_burden_over_threshold", "<= 25%")].n == 2
    assert groups[("extent", "unilobar")].n == 1
    assert groups[("device", "glass_y90")].n == 1
    assert {v for v, _ in groups} == {
        "primary_site",
        "ecog",
        "tumour_burden_over_threshold",
        "extent",
        "device",
    }


def test_published_figures_side_by_side(report: AuditReport) -> None:
    published = {p.metric: p.published for p in report.published}
    assert published["dcr_3m"] == "86-88%"
    assert report.observed["dcr_3m"] == "80.0%"
    assert report.observed["os_12m"] == "62.5%"


def test_downloads(report: AuditReport) -> None:
    assert report.os_plot_png is not None
    assert base64.b64decode(report.os_plot_png).startswith(b"\x89PNG")
    page = render_audit_html(report)
    assert page.startswith("<!DOCTYPE html>") and "data:image/png;base64," in page
    assert "86-88%" in page
    csv_text = render_audit_csv(report)
    assert csv_text.splitlines()[0] == "section,group,level,metric,value,n,published"
    assert "efficacy,,,dcr_3m,80.0%,5,86-88%" in csv_text
    for name in SEEDED_NAMES:
        assert name not in page and name not in csv_text

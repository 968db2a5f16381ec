"""Ops and audit views: figures for the service, and never a patient's name or NHS number."""

import re

import pytest

from models.vocab import Role, Stage
from tests import payloads
from tests.api.conftest import Api

NAMES = (payloads.PATIENT["family_name"], payloads.PATIENT["given_name"], "9434765919")


def no_identity(text: str) -> bool:
    return not any(name in text.replace(" ", "") for name in NAMES)


@pytest.fixture(autouse=True)
def registry_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """The registry export needs its pseudonym secret (without it: 409, see test_hardening)."""
    monkeypatch.setenv("SIRT_REGISTRY_PSEUDONYM_SECRET", "test-registry-secret")


async def test_the_ops_dashboard_counts_pathways_without_identifying_anyone(api: Api) -> None:
    await api.refer()
    r = await api.get(Role.OPS, "/ops/dashboard")
    assert r.status_code == 200, r.text
    body = r.json()
    stages = {s["stage"]: s["pathways"] for s in body["dashboard"]["by_stage"]}
    assert stages[Stage.MDT_REVIEW] >= 1
    assert body["dead_letters"] == 0
    assert no_identity(r.text)
    assert (await api.get(Role.COORDINATOR, "/ops/dashboard")).status_code == 403


async def test_prometheus_metrics_need_an_ops_token(api: Api) -> None:
    pid = await api.refer()
    assert (await api.get(Role.COORDINATOR, f"/pathways/{pid}")).status_code == 200
    r = await api.http.get("/metrics", headers=api.auth(Role.OPS))
    assert r.status_code == 200
    assert 'sirt_pathways{stage="MDT_REVIEW"}' in r.text
    # Latency by route template: the pathway id in the URL never becomes a label.
    assert '{pathway_id}",status="2xx"}' in r.text
    assert "sirt_http_request_duration_seconds_bucket" in r.text
    assert "pathway-" not in r.text
    # Without a token the browser is sent to sign in; no figures leak either way.
    assert (await api.http.get("/metrics")).status_code in (401, 303)


async def test_the_audit_report_and_registry_export_are_pseudonymous(api: Api) -> None:
    await api.refer()
    report = await api.get(Role.OPS, "/audit-report")
    assert report.status_code == 200 and "<html" in report.text.lower()
    assert no_identity(report.text)
    csv = await api.get(Role.ADMIN, "/registry/export.csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert no_identity(csv.text)
    assert (await api.get(Role.OPS, "/registry/export.csv")).status_code == 403


async def test_acknowledging_an_overdue_task_is_recorded_once(api: Api) -> None:
    pid = await api.refer()
    r = await api.post(Role.MDT_CLINICIAN, f"/pathways/{pid}/tasks/mdt_decision-1/ack", {})
    assert r.status_code == 200, r.text
    assert r.json()["acknowledged_by"] == "mdt"
    r = await api.post(Role.MDT_CLINICIAN, f"/pathways/{pid}/tasks/no-such-task/ack", {})
    assert r.status_code == 409


async def test_a_coordinators_calendar_feed_is_icalendar(api: Api) -> None:
    r = await api.get(Role.COORDINATOR, "/calendars/coordinator.ics")
    assert r.status_code == 200 and r.text.startswith("BEGIN:VCALENDAR")
    assert (await api.get(Role.COORDINATOR, "/calendars/nobody.ics")).status_code == 404


async def test_the_service_dashboard_page_shows_the_engine_and_stages_to_ops(api: Api) -> None:
    await api.refer()
    ops = await api.get(Role.OPS, "/ops/dashboard")
    # The time-skipping server cannot describe task queues: reported, not a failure. (The
    # end-to-end CLI test checks the pollers on a real dev server.)
    assert "DescribeTaskQueue" in ops.json()["temporal"]["error"]
    assert ops.json()["last_projection_at"] is not None
    link = ops.json()["temporal_ui_by_stage"]["MDT_REVIEW"]
    assert link.endswith("?query=PathwayStage%3D%27MDT_REVIEW%27")
    page = await api.http.get("/ops", headers=api.auth(Role.OPS))
    assert page.status_code == 200
    assert "<h1>Service dashboard</h1>" in page.text and "MDT review" in page.text
    assert no_identity(page.text)


async def test_the_audit_report_can_be_run_as_of_a_date(api: Api) -> None:
    r = await api.get(Role.OPS, "/audit-report.csv", params={"as_of": "2030-01-22"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    bad = await api.get(Role.OPS, "/audit-report", params={"as_of": "22/01/2030"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "as_of"]


async def test_crawling_everything_ops_can_reach_finds_no_name_or_nhs_number(api: Api) -> None:
    pid = await api.refer()
    await api.refer(grade=None)  # one waiting in triage too
    seen: set[str] = set()
    queue = ["/", "/ops", f"/pathways/{pid}", "/api/v1/pathways?limit=200", "/metrics"]
    while queue and len(seen) < 80:
        url = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        r = await api.http.get(url, headers=api.auth(Role.OPS), follow_redirects=True)
        assert no_identity(r.text), url
        links = re.findall(r'href="(/[^"#]*)"', r.text)
        queue += [u for u in links if not u.startswith(("/static", "/logout")) and u not in seen]
    assert f"/pathways/{pid}" in seen and "/ops" in seen and len(seen) > 5


async def test_registry_bundles_download_as_fhir_for_admin_only(api: Api) -> None:
    r = await api.get(Role.ADMIN, "/registry/export.fhir.json")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/fhir+json")
    bundles = r.json()
    assert isinstance(bundles, list)
    assert all(b["resourceType"] == "Bundle" for b in bundles)
    assert no_identity(r.text)
    assert (await api.get(Role.OPS, "/registry/export.fhir.json")).status_code == 403

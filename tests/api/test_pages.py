"""The server-rendered pages: worklist, list, timeline, referral and step forms with errors."""

import re
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI

from models.vocab import Role
from tests import payloads
from tests.api.conftest import BASE, Api, Login, login


@pytest.fixture
async def browser(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        yield http


def field_error(html: str, name: str) -> str | None:
    """The error message shown inside the field (or fieldset) named ``name``."""
    dom_id = "f-" + name.replace(".", "-")
    match = re.search(rf'<p class="nhsuk-error-message" id="{dom_id}-error">(.*?)</p>', html, re.S)
    if match is None:
        return None
    return re.sub(r"<[^>]+>", "", match.group(1)).replace("Error:", "").strip()


async def test_referral_form_refers_and_shows_the_timeline(
    api: Api, browser: httpx.AsyncClient, demo_users: dict[Role, Login]
) -> None:
    token = await login(browser, demo_users[Role.COORDINATOR])
    form = await browser.get("/pathways/new")
    assert form.status_code == 200
    for label in ['for="f-patient-nhs_number"', 'for="f-primary_site"', 'for="f-grade"']:
        assert label in form.text
    nhs = payloads.fresh_nhs_number()
    spaced = f"{nhs[:3]} {nhs[3:6]} {nhs[6:]}"
    data = {
        "csrf_token": token,
        "patient.nhs_number": spaced,
        "patient.family_name": "Pageform",
        "patient.given_name": "Petra",
        "patient.date_of_birth": "1960-05-01",
        "primary_site": "pancreas",
        "grade": "2",
        "ki67_pct": "5",
        "baseline_cga_ug_l": "300",
        "referrer": "Dr Who",
        "referring_trust": "Somewhere NHS Trust",
        "carcinoid_syndrome": "no",
        # Repeatable rows, not a JSON box: row 1 filled, the empty rows ignored.
        "prior_therapies.0.kind": "ssa",
        "prior_therapies.0.last_given_on": "2026-01-01",
        "prior_therapies.1.kind": "",
    }
    r = await browser.post("/pathways/new", data=data)
    assert r.status_code == 303, r.text
    timeline = await browser.get(r.headers["location"])
    assert "PAGEFORM, Petra" in timeline.text
    assert spaced in timeline.text
    assert 'id="current-stage">MDT review' in timeline.text
    assert "Referral received" in timeline.text
    # The page title (browser history, tab lists) carries no name.
    title = re.search(r"<title>(.*?)</title>", timeline.text, re.S)
    assert title is not None and "Pageform" not in title.group(1)


async def test_referral_form_shows_errors_next_to_fields(
    browser: httpx.AsyncClient, demo_users: dict[Role, Login]
) -> None:
    token = await login(browser, demo_users[Role.COORDINATOR])
    r = await browser.post(
        "/pathways/new",
        data={
            "csrf_token": token,
            "patient.nhs_number": "1234567890",
            "patient.family_name": "X",
            "patient.given_name": "Y",
            "grade": "7",
            "prior_therapies.0.kind": "prrt",
            "prior_therapies.0.cycles": "0",
        },
    )
    assert r.status_code == 422
    assert (field_error(r.text, "prior_therapies") or "").startswith("row 1 &gt; Cycles:")
    r = await browser.post(
        "/pathways/new",
        data={
            "csrf_token": token,
            "patient.nhs_number": "1234567890",
            "patient.family_name": "X",
            "patient.given_name": "Y",
            "grade": "7",
        },
    )
    assert r.status_code == 422
    assert field_error(r.text, "patient.nhs_number")
    assert field_error(r.text, "patient.date_of_birth") == "Field required"
    assert "less than or equal to 3" in (field_error(r.text, "grade") or "")
    assert 'aria-invalid="true"' in r.text
    assert 'value="X"' in r.text  # what was typed is kept
    assert "There is a problem" in r.text


async def test_mdt_form_has_proper_inputs(
    api: Api, browser: httpx.AsyncClient, demo_users: dict[Role, Login]
) -> None:
    pid = await api.refer()
    await login(browser, demo_users[Role.MDT_CLINICIAN])
    html = (await browser.get(f"/pathways/{pid}/steps/mdt-decision?task_id=mdt_decision-1")).text
    # The NHS date input: day, month and year boxes, today's date in them (the meeting is
    # usually today).
    today = await api.today()
    for part, shown in (("day", today.day), ("month", today.month), ("year", today.year)):
        assert re.search(rf'<input [^>]*name="meeting_date-{part}"[^>]*value="{shown}"', html)
    assert re.search(r'<select[^>]*name="decision"', html)
    assert re.search(r'<select[^>]*name="ecog"', html)
    assert re.search(r'<input type="checkbox"[^>]*name="net_experienced_mdt"', html)
    assert re.search(r'<input type="number"[^>]*name="labs.bilirubin_umol_l"', html)
    assert re.search(r'<textarea[^>]*name="attendees"', html)
    assert re.search(r"<legend[^>]*>Blood results", html)
    assert "Bilirubin (µmol/L)" in html
    assert "TESTPATIENT, Zebedee" in html


async def test_step_form_errors_and_refusals_next_to_the_field(
    api: Api, browser: httpx.AsyncClient, demo_users: dict[Role, Login]
) -> None:
    pid = await api.refer()
    token = await login(browser, demo_users[Role.MDT_CLINICIAN])
    before = api.row(pid)
    url = f"/pathways/{pid}/steps/mdt-decision"
    today = await api.today()
    base = {
        "csrf_token": token,
        "meeting_date": today.isoformat(),
        "net_experienced_mdt": "on",
        "attendees": "NET oncologist\nIR",
        "ecog": "1",
        "decision": "not_suitable",
    }
    r = await browser.post(url, data=base)
    assert r.status_code == 422
    assert field_error(r.text, "reason") == "say why the patient is not suitable"
    future = (today + timedelta(days=5)).isoformat()
    r = await browser.post(url, data={**base, "decision": "proceed", "meeting_date": future})
    assert r.status_code == 422
    assert field_error(r.text, "meeting_date") == f"{future} is in the future"
    r = await browser.post(url, data={**base, "labs.inr": "50", "decision": "proceed"})
    assert field_error(r.text, "labs.inr") == (
        "50 is outside the plausible range 0.5-10; that looks like seconds"
    )
    assert api.row(pid) == before
    r = await browser.post(url, data={**base, "decision": "proceed"})
    assert r.status_code == 303
    timeline = await browser.get(f"/pathways/{pid}")
    assert 'id="current-stage">Work-up' in timeline.text
    assert "Recorded: MDT selection decision." in timeline.text


async def test_wrong_stage_refusal_is_shown_on_the_form(
    api: Api, browser: httpx.AsyncClient, demo_users: dict[Role, Login]
) -> None:
    pid = await api.refer()
    token = await login(browser, demo_users[Role.COORDINATOR])
    when = ((await api.today()) + timedelta(days=3)).isoformat()
    r = await browser.post(
        f"/pathways/{pid}/steps/schedule-workup", data={"csrf_token": token, "scheduled_on": when}
    )
    assert r.status_code == 422
    assert "Stage: the pathway is in MDT_REVIEW" in r.text  # the field in words


async def test_worklist_page_and_timeline_actions(
    api: Api, browser: httpx.AsyncClient, demo_users: dict[Role, Login]
) -> None:
    pid = await api.refer()
    await login(browser, demo_users[Role.COORDINATOR])
    html = (await browser.get("/worklist?tab=team")).text
    row = re.search(
        rf'<tr data-pathway-id="{pid}" data-task-kind="mdt_decision".*?</tr>', html, re.S
    )
    assert row is not None  # waiting on others (the second tab): the MDT
    assert "TESTPATIENT, Zebedee" in row.group(0)
    await api.step(Role.MDT_CLINICIAN, pid, "mdt-decision", payloads.mdt(await api.today()))
    assert (
        f'data-pathway-id="{pid}" data-task-kind="mdt_decision"'
        not in (await browser.get("/worklist?tab=team")).text
    )
    html = (await browser.get("/worklist")).text
    row = re.search(
        rf'<tr data-pathway-id="{pid}" data-task-kind="schedule_workup".*?</tr>', html, re.S
    )
    assert row is not None and "Record" in row.group(0) and "Snooze" in row.group(0)
    timeline = (await browser.get(f"/pathways/{pid}")).text
    assert f'href="/pathways/{pid}/steps/schedule-workup?task_id=' in timeline
    assert "MDT: proceed to work-up" in timeline


async def test_pathway_list_page_filters(
    api: Api, browser: httpx.AsyncClient, demo_users: dict[Role, Login]
) -> None:
    pid = await api.refer(grade=None)
    await login(browser, demo_users[Role.COORDINATOR])
    html = (await browser.get("/pathways?stage=REFERRED&role=coordinator&overdue=")).text
    assert f'data-pathway-id="{pid}"' in html
    html = (await browser.get("/pathways?stage=WORKUP")).text
    assert f'data-pathway-id="{pid}"' not in html
    bad = (await browser.get("/pathways?stage=NOWHERE&due_within_days=x")).text
    assert "stage: &#39;NOWHERE&#39; is not a valid choice" in bad


async def test_ops_pages_are_pseudonymous(
    api: Api, browser: httpx.AsyncClient, demo_users: dict[Role, Login]
) -> None:
    pid = await api.refer()
    await login(browser, demo_users[Role.OPS])
    for url in ["/pathways?limit=200", f"/pathways/{pid}"]:
        html = (await browser.get(url)).text
        assert "Testpatient".upper() not in html and "943 476 5919" not in html, url
    assert "not shown for your role" in (await browser.get(f"/pathways/{pid}")).text
    assert (await browser.get("/worklist")).status_code == 403
    assert (await browser.get(f"/pathways/{pid}/steps/mdt-decision")).status_code == 403


async def test_unknown_pathway_page_is_404(
    browser: httpx.AsyncClient, demo_users: dict[Role, Login]
) -> None:
    await login(browser, demo_users[Role.COORDINATOR])
    assert (await browser.get("/pathways/pathway-nope")).status_code == 404
    r = await browser.get("/pathways/pathway-00000000-0000-4000-8000-000000000000")
    assert r.status_code == 404 and "<h1>" in r.text

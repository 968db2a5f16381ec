"""Forms a clinician can use: the signer and dates prefilled, a procedure recorded on a day
other than its booking asks for confirmation, and the error summary in the form's words.

Measured on main before this: the physicist retyped their name and the sign-off date was not
prefilled; a work-up recorded days before its booked date passed without a word; messages
named internal fields (``labs > bilirubin_umol_l``).
"""

import html
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from api.forms import fields_for, parse_form
from api.routes.pages import _FORM_FIELDS, _labels
from models.catalogue import CATALOGUE, StepSpec
from models.steps import FollowUpVisitRecord
from models.vocab import Role, Stage
from tests import payloads
from tests.api.conftest import BASE, Api, Login, login
from tests.api.test_worklist_actionable import wait_for_read_model
from tests.journey import drive_to


@pytest.fixture
async def browser(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        yield http


def value_of(page: str, dom_id: str) -> str | None:
    match = re.search(rf'id="{dom_id}"[^>]*value="([^"]*)"', page)
    return match.group(1) if match else None


def date_value(page: str, dom_id: str) -> str:
    """The date a date input shows in its day, month and year boxes, as ISO."""
    boxes = [value_of(page, i) for i in (f"{dom_id}-year", f"{dom_id}-month", dom_id)]
    return "-".join(f"{int(b or 0):02d}" for b in boxes)


async def test_the_physicist_and_the_sign_off_date_are_prefilled(
    api: Api, pathways: Any, browser: httpx.AsyncClient, demo_users: dict[Role, Login]
) -> None:
    journey = await drive_to(pathways, Stage.DOSIMETRY_PLANNING)
    await wait_for_read_model(api, journey.id, Stage.DOSIMETRY_PLANNING)
    await login(browser, demo_users[Role.PHYSICIST])
    page = (await browser.get(f"/pathways/{journey.id}/steps/dosimetry-plan")).text
    assert value_of(page, "f-physicist_signoff-physicist") == "physicist"
    assert date_value(page, "f-physicist_signoff-signed_on") == (await api.today()).isoformat()


async def test_a_work_up_recorded_on_another_day_than_booked_asks_to_confirm(
    api: Api, pathways: Any, browser: httpx.AsyncClient, demo_users: dict[Role, Login]
) -> None:
    journey = await drive_to(pathways, Stage.WORKUP)
    today = await api.today()
    booked = today + timedelta(days=7)
    await journey.step("schedule-workup", {"scheduled_on": booked.isoformat()})
    await wait_for_read_model(api, journey.id, Stage.WORKUP)
    token = await login(browser, demo_users[Role.INTERVENTIONAL_RADIOLOGIST])
    url = f"/pathways/{journey.id}/steps/workup"
    data = {
        "csrf_token": token,
        "performed_on": today.isoformat(),
        "injection_positions": "right hepatic\nleft hepatic",
        "scout_activity_mbq": "150",
        "lung_shunt_fraction": "0.06",
        "whole_liver_volume_ml": "1600",
        "tumour_volume_ml": "300",
    }
    before = api.row(journey.id)
    r = await browser.post(url, data=data)
    assert r.status_code == 422
    assert f"This was booked for {booked:%d %b %Y}" in r.text
    assert 'name="confirm_other_date"' in r.text
    assert api.row(journey.id) == before  # nothing recorded
    # The typed values are kept; ticking the box records it.
    assert value_of(r.text, "f-scout_activity_mbq") == "150"
    r = await browser.post(url, data={**data, "confirm_other_date": "on"})
    assert r.status_code == 303, r.text
    await wait_for_read_model(api, journey.id, Stage.DOSIMETRY_PLANNING)


async def test_the_error_summary_uses_the_forms_labels(
    api: Api, browser: httpx.AsyncClient, demo_users: dict[Role, Login]
) -> None:
    pid = await api.refer()
    token = await login(browser, demo_users[Role.MDT_CLINICIAN])
    r = await browser.post(
        f"/pathways/{pid}/steps/mdt-decision",
        data={"csrf_token": token, "labs.bilirubin_umol_l": "-5", "decision": "proceed"},
    )
    assert r.status_code == 422
    found = re.search(r'id="error-summary".*?</div>', r.text, re.S)
    assert found is not None
    summary = html.unescape(found.group(0))
    label = _labels(_FORM_FIELDS["mdt-decision"])["labs.bilirubin_umol_l"]
    assert label == "Blood results > Bilirubin (µmol/L)"
    assert f"{label}: " in summary
    assert "bilirubin_umol_l" not in re.sub(r'href="[^"]*"', "", summary)
    # The API's 422 names the field in the same words (one label map, models.labels).
    bad = payloads.mdt(await api.today())
    bad["labs"]["bilirubin_umol_l"] = -5
    r = await api.step(Role.MDT_CLINICIAN, pid, "mdt-decision", bad)
    assert r.status_code == 422
    [detail] = r.json()["detail"]
    assert detail["loc"] == ["body", "labs", "bilirubin_umol_l"]
    assert detail["label"] == label
    assert detail["msg"] == f"{label}: Input should be greater than or equal to 0"
    assert f"{label}: Input should be greater than or equal to 0" in summary


async def test_a_refusal_naming_an_internal_field_is_shown_in_words(
    api: Api, browser: httpx.AsyncClient, demo_users: dict[Role, Login]
) -> None:
    # The workflow refuses "override_reason: ..." when an MDT proceeds over a contraindication.
    pid = await api.refer()
    token = await login(browser, demo_users[Role.MDT_CLINICIAN])
    today = (await api.today()).isoformat()
    form = {
        "csrf_token": token,
        "meeting_date": today,
        "net_experienced_mdt": "on",
        "attendees": "NET oncologist",
        "ecog": "1",
        "labs.bilirubin_umol_l": "40",
        "decision": "proceed",
    }
    r = await browser.post(f"/pathways/{pid}/steps/mdt-decision", data=form)
    assert r.status_code == 422
    text = html.unescape(r.text)
    assert "fill in 'Reason for the override'" in text
    assert "override_reason" not in re.sub(r'(href|id|name|for|aria-describedby)="[^"]*"', "", text)


async def test_prior_therapies_and_positions_are_repeatable_rows_not_json(
    api: Api, pathways: Any, browser: httpx.AsyncClient, demo_users: dict[Role, Login]
) -> None:
    token = await login(browser, demo_users[Role.COORDINATOR])
    form = (await browser.get("/pathways/new")).text
    assert not re.search(r'class="[^"]*\bmono\b', form)  # no JSON box on the referral form
    for cell in ("prior_therapies.0.kind", "prior_therapies.2.last_given_on"):
        assert f'name="{cell}"' in form
    nhs = payloads.fresh_nhs_number()
    data = {
        "csrf_token": token,
        "patient.nhs_number": nhs,
        "patient.family_name": "Rows",
        "patient.given_name": "Rita",
        "patient.date_of_birth": "01/02/1955",
        "primary_site": "midgut",
        "grade": "2",
        "prior_therapies.0.kind": "ssa",
        "prior_therapies.0.last_given_on": "2026-01-10",
        "prior_therapies.1.kind": "prrt",
        "prior_therapies.1.last_given_on": "2025-11-02",
        "prior_therapies.1.cycles": "4",
    }
    r = await browser.post("/pathways/new", data=data)
    assert r.status_code == 303, r.text
    pid = r.headers["location"].rsplit("/", 1)[-1]
    detail = (await api.get(Role.COORDINATOR, f"/pathways/{pid}")).json()
    assert detail["outcomes"][0]["data"]["prior_therapies"] == [
        {"kind": "ssa", "last_given_on": "2026-01-10", "cycles": None},
        {"kind": "prrt", "last_given_on": "2025-11-02", "cycles": 4},
    ]
    # A bad cell is named by its row and column, and the typed rows come back.
    bad = {**data, "patient.nhs_number": payloads.fresh_nhs_number()}
    bad["prior_therapies.1.cycles"] = "0"
    r = await browser.post("/pathways/new", data=bad)
    assert r.status_code == 422
    assert "row 2 > Cycles:" in html.unescape(r.text)
    assert 'name="prior_therapies.1.last_given_on" value="2025-11-02"' in r.text
    # The dosimetry plan's injection positions are rows too.
    journey = await drive_to(pathways, Stage.DOSIMETRY_PLANNING)
    await wait_for_read_model(api, journey.id, Stage.DOSIMETRY_PLANNING)
    await login(browser, demo_users[Role.PHYSICIST])
    page = (await browser.get(f"/pathways/{journey.id}/steps/dosimetry-plan")).text
    assert 'name="positions.0.position"' in page and 'name="positions.0.activity_gbq"' in page


async def test_triage_starts_from_the_missing_items(
    api: Api, browser: httpx.AsyncClient, demo_users: dict[Role, Login]
) -> None:
    pid = await api.refer(grade=None, ki67_pct=None)
    [task] = [
        t
        for t in (await api.get(Role.COORDINATOR, f"/pathways/{pid}")).json()["tasks"]
        if t["kind"] == "triage_referral"
    ]
    await login(browser, demo_users[Role.COORDINATOR])
    page = (await browser.get(f"/pathways/{pid}/steps/triage?task_id={task['id']}")).text
    found = re.search(r'<textarea[^>]*id="f-missing_items"[^>]*>(.*?)</textarea>', page, re.S)
    assert found is not None
    assert found.group(1).splitlines() == ["grade", "ki67_pct"]


async def test_triage_records_the_missing_items_and_the_referral_goes_to_the_mdt(
    api: Api, browser: httpx.AsyncClient, demo_users: dict[Role, Login]
) -> None:
    # The referral came without the WHO grade and Ki-67; the coordinator finds both.
    pid = await api.refer(grade=None, ki67_pct=None)
    token = await login(browser, demo_users[Role.COORDINATOR])
    page = (await browser.get(f"/pathways/{pid}/steps/triage")).text
    # An input for each missing item, none for the items the referral has.
    assert 'name="supplied.grade"' in page and 'name="supplied.ki67_pct"' in page
    assert 'name="supplied.primary_site"' not in page
    assert "Items the referral lacked" in page
    form = {"csrf_token": token, "supplied.grade": "2", "supplied.ki67_pct": "12.5"}
    r = await browser.post(f"/pathways/{pid}/steps/triage", data=form)
    assert r.status_code == 303, r.text
    await wait_for_read_model(api, pid, Stage.MDT_REVIEW)
    detail = (await api.get(Role.COORDINATOR, f"/pathways/{pid}")).json()
    assert detail["stage"] == Stage.MDT_REVIEW
    [triage] = [o["data"] for o in detail["outcomes"] if o["kind"] == "triage"]
    assert (triage["supplied"]["grade"], triage["supplied"]["ki67_pct"]) == (2, 12.5)
    # Another referral lacks only the primary site: only that is offered.
    other = await api.refer(primary_site=None)
    page = (await browser.get(f"/pathways/{other}/steps/triage")).text
    assert 'name="supplied.primary_site"' in page and 'name="supplied.grade"' not in page


@pytest.mark.parametrize("spec", CATALOGUE, ids=lambda s: s.slug)
def test_no_step_form_has_a_json_box(spec: StepSpec) -> None:
    widgets = {f.name: f.widget for top in fields_for(spec.payload) for f in top.walk()}
    assert [name for name, widget in widgets.items() if widget == "json"] == []


def test_the_visit_form_reads_lesion_rows_and_questionnaire_answers() -> None:
    fields = fields_for(FollowUpVisitRecord)
    by_name = {f.name: f for top in fields for f in top.walk()}
    lesions = by_name["target_lesions_mm"]
    assert (lesions.widget, [c.label for c in lesions.children]) == (
        "rows",
        ["Lesion ID", "Diameter (mm)"],
    )
    qlq = by_name["qlq_c30"]
    assert len(qlq.children) == 30
    assert (qlq.children[0].label, qlq.children[0].options) == (
        "1. Physical functioning",
        ["1", "2", "3", "4"],
    )
    assert qlq.children[29].options == [str(a) for a in range(1, 8)]  # global health: 1-7
    form = {
        "visit_code": "3m",
        "visit_date": "2026-06-01",
        "target_lesions_mm.0.lesion_id": "L1",
        "target_lesions_mm.0.diameter_mm": "21.5",
        "target_lesions_mm.1.lesion_id": "L2",  # present, not measurable
        "qlq_c30.1": "2",
        "qlq_c30.29": "6",
    }
    payload, errors = parse_form(fields, form)
    assert errors == {}
    record = FollowUpVisitRecord.model_validate(payload)
    assert record.target_lesions_mm == {"L1": 21.5, "L2": None}
    assert record.qlq_c30 == {1: 2, 29: 6}
    # A diameter without its lesion is refused, naming the row.
    _, errors = parse_form(fields, {**form, "target_lesions_mm.4.diameter_mm": "9"})
    assert errors == {"target_lesions_mm": "row 5: give the Lesion ID"}

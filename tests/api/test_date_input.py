"""Dates on the forms are the NHS date input: day, month and year boxes that the server joins into
the ISO date the step's model expects. A date with a box left empty, or one that does not exist,
is refused next to the field in words naming it; one box typed the UK way still works."""

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from api.forms import date_parts, parse_form
from api.routes.pages import _FORM_FIELDS, _REFERRAL_FIELDS
from models.vocab import Role
from tests.api.conftest import BASE, Api, Login, login
from tests.api.test_pages import field_error

MDT = _FORM_FIELDS["mdt-decision"]


def test_the_three_boxes_make_one_iso_date() -> None:
    payload, errors = parse_form(
        MDT, {"meeting_date-day": "7", "meeting_date-month": "03", "meeting_date-year": "2026"}
    )
    assert errors == {}
    assert payload["meeting_date"] == "2026-03-07"


@pytest.mark.parametrize(
    ("day", "month", "year", "error"),
    [
        ("30", "2", "2026", "Meeting date must be a real date"),
        ("12", "13", "2026", "Meeting date must be a real date"),
        ("1", "3", "26", "Meeting date must be a real date"),
        ("1st", "3", "2026", "Meeting date must be a real date"),
        ("14", "", "2026", "Meeting date must include a month"),
        ("", "", "2026", "Meeting date must include a day and month"),
    ],
)
def test_an_incomplete_or_impossible_date_names_the_field(
    day: str, month: str, year: str, error: str
) -> None:
    form = {"meeting_date-day": day, "meeting_date-month": month, "meeting_date-year": year}
    payload, errors = parse_form(MDT, form)
    assert errors == {"meeting_date": error}
    assert "meeting_date" not in payload


def test_empty_boxes_are_no_date_and_one_box_may_be_typed_the_uk_way() -> None:
    empty = {"meeting_date-day": "", "meeting_date-month": "", "meeting_date-year": ""}
    payload, errors = parse_form(MDT, empty)
    assert errors == {} and "meeting_date" not in payload
    # A prior therapy's row has one box per date: 14/03/2025 is read day first.
    payload, errors = parse_form(
        _REFERRAL_FIELDS,
        {"prior_therapies.0.kind": "ssa", "prior_therapies.0.last_given_on": "14/03/2025"},
    )
    assert errors == {}
    assert payload["prior_therapies"] == [{"kind": "ssa", "last_given_on": "2025-03-14"}]


def test_the_boxes_show_what_was_typed_else_the_prefilled_date() -> None:
    typed = {"meeting_date-day": "31", "meeting_date-month": "2", "meeting_date-year": "2026"}
    assert date_parts(typed, "meeting_date") == {"day": "31", "month": "2", "year": "2026"}
    prefilled = {"meeting_date": "2026-07-01"}
    assert date_parts(prefilled, "meeting_date") == {"day": "1", "month": "7", "year": "2026"}
    assert date_parts({}, "meeting_date") == {"day": "", "month": "", "year": ""}


@pytest.fixture
async def browser(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        yield http


async def test_an_mdt_meeting_on_the_30th_of_february_is_refused_then_recorded(
    api: Api, browser: httpx.AsyncClient, demo_users: dict[Role, Login]
) -> None:
    pid = await api.refer()
    token = await login(browser, demo_users[Role.MDT_CLINICIAN])
    today = await api.today()
    url = f"/pathways/{pid}/steps/mdt-decision"
    data = {
        "csrf_token": token,
        "meeting_date-day": "30",
        "meeting_date-month": "2",
        "meeting_date-year": str(today.year),
        "net_experienced_mdt": "on",
        "attendees": "NET oncologist\nIR",
        "ecog": "1",
        "decision": "not_suitable",
        "reason": "Extrahepatic disease",
    }
    before = api.row(pid)
    r = await browser.post(url, data=data)
    assert r.status_code == 422
    assert field_error(r.text, "meeting_date") == "Meeting date must be a real date"
    # The summary links to the day box and says it once, not "Meeting date: Meeting date ...".
    summary = re.search(r'id="error-summary".*?</ul>', r.text, re.S)
    assert summary is not None
    assert '<a href="#f-meeting_date">Meeting date must be a real date</a>' in summary.group(0)
    assert 'id="f-meeting_date" name="meeting_date-day"' in r.text
    assert re.search(r'name="meeting_date-day"[^>]*value="30"', r.text)  # kept as typed
    assert api.row(pid) == before

    r = await browser.post(
        url,
        data={**data, "meeting_date-day": str(today.day), "meeting_date-month": str(today.month)},
    )
    assert r.status_code == 303, r.text
    detail = (await api.get(Role.MDT_CLINICIAN, f"/pathways/{pid}")).json()
    decision = next(o for o in detail["outcomes"] if o["kind"] == "mdt_decision")
    assert decision["data"]["meeting_date"] == today.isoformat()

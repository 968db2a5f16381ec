"""Referral identity: a possible date of birth, UK date forms, and one open pathway per NHS
number unless a second one is deliberate.

Measured on main before this: the same NHS number was accepted three times under different
names; a date of birth in 2030 was accepted (web and CLI); 14/03/1958 got "invalid character
in year".
"""

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from models.vocab import Role
from tests import payloads
from tests.api.conftest import API, BASE, Api, Login, csrf_from, login

C = Role.COORDINATOR


@pytest.fixture
async def browser(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        yield http


def body(**patient: Any) -> dict[str, Any]:
    who = {**payloads.PATIENT, "nhs_number": payloads.fresh_nhs_number(), **patient}
    return payloads.referral(patient=who).model_dump(mode="json")


async def test_a_date_of_birth_in_the_future_or_over_120_years_ago_is_refused(api: Api) -> None:
    today = await api.today()
    for born, message in [
        (today + timedelta(days=1), "is in the future"),
        (today.replace(year=today.year - 121), "at most 120 years"),
    ]:
        before = (await api.get(C, "/pathways", params={"limit": 1})).json()["total"]
        r = await api.post(C, "/pathways", body(date_of_birth=born.isoformat()))
        assert r.status_code == 422, r.text
        [error] = r.json()["detail"]
        assert error["loc"] == ["body", "patient", "date_of_birth"]
        assert message in error["msg"]
        assert (await api.get(C, "/pathways", params={"limit": 1})).json()["total"] == before
    # 120 exactly is still possible.
    r = await api.post(C, "/pathways", body(date_of_birth=today.replace(year=today.year - 120)))
    assert r.status_code == 201, r.text


async def test_uk_date_forms_are_accepted(api: Api) -> None:
    for typed in ("14/03/1958", "14-3-1958", "14.03.1958"):
        sent = body()
        sent["patient"]["date_of_birth"] = typed
        r = await api.post(C, "/pathways", sent)
        assert r.status_code == 201, (typed, r.text)
        detail = (await api.get(C, f"/pathways/{r.json()['pathway_id']}")).json()
        assert detail["patient"]["date_of_birth"] == "1958-03-14"
    sent = body()
    sent["patient"]["date_of_birth"] = "31/02/1958"
    r = await api.post(C, "/pathways", sent)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "patient", "date_of_birth"]
    assert "31/02/1958 is not a real date" in r.json()["detail"][0]["msg"]


async def test_the_same_nhs_number_with_an_open_pathway_is_refused_unless_deliberate(
    api: Api,
) -> None:
    first = body()
    r = await api.post(C, "/pathways", first)
    assert r.status_code == 201
    pid = r.json()["pathway_id"]
    again = {**first, "patient": {**first["patient"], "family_name": "Othername"}}
    before = (await api.get(C, "/pathways", params={"limit": 1})).json()["total"]
    r = await api.post(C, "/pathways", again)
    assert r.status_code == 409, r.text
    [error] = r.json()["detail"]
    assert error["loc"] == ["body", "patient", "nhs_number"]
    assert error["pathway_id"] == pid
    assert f"already has an open pathway ({pid})" in error["msg"]
    assert (await api.get(C, "/pathways", params={"limit": 1})).json()["total"] == before
    # A deliberate second pathway, with its reason.
    r = await api.post(C, "/pathways", {**again, "second_pathway_reason": "new pancreatic primary"})
    assert r.status_code == 201, r.text
    assert r.json()["pathway_id"] != pid
    # A keyed referral sent again is its own pathway, not a duplicate.
    keyed = body()
    headers = {**api.auth(C), "Idempotency-Key": "identity-test-key-1"}
    one = await api.http.post(API + "/pathways", json=keyed, headers=headers)
    two = await api.http.post(API + "/pathways", json=keyed, headers=headers)
    assert (one.status_code, two.status_code) == (201, 201)
    assert one.json()["pathway_id"] == two.json()["pathway_id"]


async def test_the_referral_form_takes_a_uk_date_and_links_to_the_open_pathway(
    api: Api, browser: httpx.AsyncClient, demo_users: dict[Role, Login]
) -> None:
    await login(browser, demo_users[C])
    nhs = payloads.fresh_nhs_number()

    async def submit(**extra: str) -> httpx.Response:
        form = (await browser.get("/pathways/new")).text
        assert '<input type="text" id="f-patient-date_of_birth"' in form
        data = {
            "csrf_token": csrf_from(form),
            "patient.nhs_number": nhs,
            "patient.family_name": "Ukdate",
            "patient.given_name": "Una",
            "patient.date_of_birth": "14/03/1958",
            "primary_site": "midgut",
            "grade": "2",
            **extra,
        }
        return await browser.post("/pathways/new", data=data)

    r = await submit()
    assert r.status_code == 303, r.text
    pid = r.headers["location"].rsplit("/", 1)[-1]
    assert "14 Mar 1958" in (await browser.get(r.headers["location"])).text
    r = await submit()
    assert r.status_code == 422
    assert f'<a href="/pathways/{pid}">open the existing pathway</a>' in r.text
    assert 'name="second_pathway_reason"' in r.text
    r = await submit(second_pathway_reason="New primary in the pancreas")
    assert r.status_code == 303
    assert r.headers["location"] != f"/pathways/{pid}"

"""Finding a patient: by NHS number (any spacing), family name, date of birth (UK or ISO form)
or pathway id; identity searches only for roles that may see identity, never for ops.

Measured on main before this: there was no search at all, by NHS number or by name.
"""

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from clinical.nhs_number import _check_digit
from models.vocab import Role
from tests.api.conftest import BASE, Api, Login, login

C, OPS = Role.COORDINATOR, Role.OPS


def fresh_nhs_number() -> str:
    """A valid NHS number no other test uses (random first nine digits, modulus-11 check)."""
    while True:
        nine = f"{uuid.uuid4().int % 10**9:09d}"
        check = _check_digit(nine)
        if check is not None and nine[0] != "0":
            return nine + str(check)


def fresh_name(stem: str) -> str:
    """A family name no other test uses: letters only, as names are searched."""
    return stem + "".join(chr(ord("a") + int(c, 16)) for c in uuid.uuid4().hex[:8])


@pytest.fixture
async def browser(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        yield http


async def found(api: Api, role: Role, q: str) -> list[str]:
    r = await api.get(role, "/pathways", params={"q": q, "limit": 200})
    assert r.status_code == 200, r.text
    return [p["id"] for p in r.json()["items"]]


async def test_find_a_patient_by_nhs_number_name_birth_date_or_pathway_id(api: Api) -> None:
    nhs = fresh_nhs_number()
    family = fresh_name("Searchable")
    patient = {
        "nhs_number": nhs,
        "family_name": family,
        "given_name": "Iris",
        "date_of_birth": "1949-07-02",
    }
    pid = await api.refer(patient=patient)
    other = await api.refer(
        patient={**patient, "nhs_number": fresh_nhs_number(), "family_name": "Elsewhere"}
    )

    spaced = f"{nhs[:3]} {nhs[3:6]} {nhs[6:]}"
    assert await found(api, C, spaced) == [pid]
    assert await found(api, C, f"{nhs[:3]}-{nhs[3:6]}-{nhs[6:]}") == [pid]
    assert await found(api, C, nhs) == [pid]
    assert await found(api, C, family.lower()) == [pid]
    assert await found(api, C, family[:12].upper()) == [pid]
    by_birth = await found(api, C, "02/07/1949")
    assert pid in by_birth and other in by_birth
    assert set(await found(api, C, "1949-07-02")) == set(by_birth)
    assert await found(api, C, pid[:20]) == [pid]
    # The search is audited by kind; the term itself is never written down.
    events = api.audit(action="pathway:search")
    assert [e.detail for e in events[-3:]] == [
        "by date of birth",
        "by date of birth",
        "by pathway id",
    ]
    assert all(nhs not in (e.detail or "") and family not in (e.detail or "") for e in events)


async def test_ops_may_not_search_by_identity(api: Api) -> None:
    pid = await api.refer()
    for q in ("943 476 5919", "Testpatient", "14/03/1958"):
        r = await api.get(OPS, "/pathways", params={"q": q})
        assert r.status_code == 403, q
        assert "not available for your role" in r.text
        assert "Testpatient" not in r.text and "9434765919" not in r.text
    # A pathway id is pseudonymous: ops may find one.
    assert await found(api, OPS, pid) == [pid]


async def test_an_unreadable_search_names_the_field(api: Api) -> None:
    r = await api.get(C, "/pathways", params={"q": "31/02/1958"})
    assert r.status_code == 422
    [error] = r.json()["detail"]
    assert error["loc"] == ["query", "q"]
    assert "31/02/1958 is not a real date" in error["msg"]
    assert (await api.get(C, "/pathways", params={"q": "x"})).status_code == 422


async def test_the_search_form_posts_and_keeps_identity_out_of_urls(
    api: Api, browser: httpx.AsyncClient, demo_users: dict[Role, Login]
) -> None:
    nhs = fresh_nhs_number()
    family = fresh_name("Formsearch")
    pid = await api.refer(
        patient={
            "nhs_number": nhs,
            "family_name": family,
            "given_name": "Ola",
            "date_of_birth": "1960-01-01",
        }
    )
    token = await login(browser, demo_users[C])
    page = (await browser.get("/pathways")).text
    assert 'action="/pathways/search"' in page and 'method="post"' in page
    r = await browser.post("/pathways/search", data={"csrf_token": token, "q": family})
    assert r.status_code == 200
    assert f'data-pathway-id="{pid}"' in r.text
    # Search results are neither cached nor sent on as a referrer, even within the app.
    assert '<meta name="referrer" content="no-referrer">' in r.text
    assert r.headers["cache-control"] == "no-store"
    # No link on the results page carries the term.
    assert f"q={family}" not in r.text and "?q=" not in r.text
    # The GET form works too.
    r = await browser.get("/pathways", params={"q": nhs})
    assert f'data-pathway-id="{pid}"' in r.text
    await login(browser, demo_users[OPS])
    r = await browser.post("/pathways/search", data={"csrf_token": token, "q": family})
    assert r.status_code in (403, 200)
    assert family.upper() not in r.text and pid not in r.text

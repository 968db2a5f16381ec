"""A typed dose lower than the recorded work-up implies is refused through the JSON API and the
web form, in the Update's own words, and the pathway is unchanged (issue 10).

Measured on the old main: in the web form 10 GBq with LSF 0.08 and a typed 5 Gy was accepted,
while 49.67 x 10 x 0.08 / 1 kg = 39.74 Gy.
"""

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from models.vocab import Role
from tests import payloads
from tests.api.conftest import BASE, Api, Login, login
from tests.api.test_pages import field_error

C, MDT, IR, PHYS = (
    Role.COORDINATOR,
    Role.MDT_CLINICIAN,
    Role.INTERVENTIONAL_RADIOLOGIST,
    Role.PHYSICIST,
)
TEN_GBQ = [
    {"position": "right hepatic", "activity_gbq": 6.0},
    {"position": "left hepatic", "activity_gbq": 4.0},
]
# The Update's refusal, word for word (the MIRD method: no tumour-to-normal ratio recorded).
REFUSAL = (
    "typed lung dose 5.00 Gy differs from the 39.74 Gy the recorded inputs give (10.00 GBq x "
    "LSF 8.0% x 49.67 Gy kg/GBq / default lung mass 1 kg) by more than 5% (or 1 Gy); predicted "
    "lung dose 39.74 Gy exceeds the single-treatment limit of 30 Gy; predicted perfused-volume "
    "dose 246.47 Gy exceeds the resin Y-90 single-compartment limit of 40 Gy (no "
    "tumour-to-normal ratio recorded, so uptake is taken as uniform; a ratio from the MAA scan "
    "credits tumour uptake)"
)


@pytest.fixture
async def browser(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        yield http


async def at_dosimetry_planning(api: Api) -> str:
    pid = await api.refer()
    today = (await api.today()).isoformat()
    for role, step, body in [
        (MDT, "mdt-decision", payloads.mdt(await api.today())),
        (C, "schedule-workup", {"scheduled_on": today}),
        (IR, "workup", payloads.workup(await api.today())),
    ]:
        r = await api.step(role, pid, step, body)
        assert r.status_code == 200, r.text
    assert api.row(pid)["stage"] == "DOSIMETRY_PLANNING"
    return pid


def ten_gbq_plan(api_today: Any) -> dict[str, Any]:
    plan = payloads.plan(api_today, method="mird", positions=TEN_GBQ)
    for name in (
        "tumour_to_normal_ratio",
        "predicted_tumour_dose_gy",
        "predicted_normal_liver_dose_gy",
    ):
        plan.pop(name, None)
    plan["predicted_perfused_dose_gy"] = 246.47
    plan["predicted_lung_dose_gy"] = 5.0
    return plan


async def test_the_api_refuses_a_typed_lung_dose_below_the_computed_one(api: Api) -> None:
    pid = await at_dosimetry_planning(api)
    before = api.row(pid)
    plan = ten_gbq_plan(await api.today())
    r = await api.step(PHYS, pid, "dosimetry-plan", plan)
    assert r.status_code == 422, r.text
    [detail] = r.json()["detail"]
    assert detail["loc"] == ["body", "predicted_lung_dose_gy"]
    assert detail["label"] == "Lung dose (Gy)"
    assert detail["msg"] == f"Lung dose (Gy): {REFUSAL}"
    assert detail["type"] == "UnsafePlan"
    assert api.row(pid) == before


async def test_the_api_refuses_nan_and_implausible_units_naming_the_field(api: Api) -> None:
    pid = await at_dosimetry_planning(api)
    plan = payloads.plan(await api.today())
    plan["positions"] = [{"position": "right hepatic", "activity_gbq": 1800}]
    r = await api.step(PHYS, pid, "dosimetry-plan", plan)
    assert r.status_code == 422
    [detail] = r.json()["detail"]
    assert detail["loc"] == ["body", "positions", 0, "activity_gbq"]
    assert detail["msg"].endswith("that looks like MBq: divide by 1000")
    raw = json.dumps({**payloads.plan(await api.today()), "tumour_to_normal_ratio": "NaN"})
    r = await api.http.post(
        f"/api/v1/pathways/{pid}/steps/dosimetry-plan",
        content=raw,
        headers={**api.auth(PHYS), "Content-Type": "application/json"},
    )
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "tumour_to_normal_ratio"]


async def test_the_web_form_shows_the_same_refusal_next_to_the_field(
    api: Api, browser: httpx.AsyncClient, demo_users: dict[Role, Login]
) -> None:
    pid = await at_dosimetry_planning(api)
    before = api.row(pid)
    token = await login(browser, demo_users[PHYS])
    today = (await api.today()).isoformat()
    form = {
        "csrf_token": token,
        "device": "resin_y90",
        "method": "mird",
        **{
            f"positions.{i}.{name}": str(value)
            for i, row in enumerate(TEN_GBQ)
            for name, value in row.items()
        },
        "predicted_perfused_dose_gy": "246.47",
        "predicted_lung_dose_gy": "5",
        "physicist_signoff.physicist": "Medical Physicist",
        "physicist_signoff.signed_on": today,
    }
    r = await browser.post(f"/pathways/{pid}/steps/dosimetry-plan", data=form)
    assert r.status_code == 422, r.text
    assert field_error(r.text, "predicted_lung_dose_gy") == REFUSAL
    assert api.row(pid) == before


async def test_bilirubin_typed_in_mg_per_dl_is_refused_at_the_mdt(api: Api) -> None:
    # Measured on main: bilirubin 3.0 (mg/dL typed into umol/L) was accepted and graded 0.
    pid = await api.refer()
    before = api.row(pid)
    mdt = payloads.mdt(await api.today())
    mdt["labs"] = {**mdt["labs"], "bilirubin_umol_l": 3.0}
    r = await api.step(MDT, pid, "mdt-decision", mdt)
    assert r.status_code == 422
    [detail] = r.json()["detail"]
    assert detail["loc"] == ["body", "labs", "bilirubin_umol_l"]
    # In the clinical words of the shared label map (models.labels), as the form shows it.
    assert detail["label"] == "Blood results > Bilirubin (µmol/L)"
    assert detail["msg"] == (
        "Blood results > Bilirubin (µmol/L): 3 umol/L is outside the plausible range "
        "3.5-850 umol/L; that looks like mg/dL: multiply by 17.1"
    )
    assert api.row(pid) == before

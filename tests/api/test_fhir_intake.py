"""FHIR in: results (an Observation, a Bundle of them) and deaths (Patient.deceased[x]) reach
the pathway as HL7v2 messages do: 201 when applied, 422 naming the element otherwise."""

from datetime import date
from typing import Any

import httpx
from fastapi import FastAPI
from sqlmodel import Session, select

from models.tables import OutcomeRow, TaskRow
from models.vocab import Role, Stage, TaskKind
from tests import payloads
from tests.api.conftest import BASE, Login, login
from tests.api.test_step_forms import value_of
from tests.api.test_worklist_actionable import open_tasks, wait_for_read_model
from tests.intake.messages import new_nhs_number
from tests.journey import drive_to

C = Role.COORDINATOR
NHS_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"


def observation(rid: str, nhs: str, on: date, code: str, value: float, unit: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": {"identifier": {"system": NHS_SYSTEM, "value": nhs}},
        "effectiveDateTime": f"{on.isoformat()}T08:30:00+00:00",
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org"},
    }


def recorded(api: Any, pathway_id: str, kind: str) -> list[OutcomeRow]:
    with Session(api.engine) as s:
        rows = s.exec(
            select(OutcomeRow).where(OutcomeRow.pathway_id == pathway_id, OutcomeRow.kind == kind)
        )
        return list(rows)


async def referred(api: Any, seed: int) -> tuple[str, str]:
    nhs = new_nhs_number(seed)
    return await api.refer(patient={**payloads.PATIENT, "nhs_number": nhs}), nhs


async def test_an_observation_is_applied_once_however_often_it_is_sent(api):
    pathway_id, nhs = await referred(api, 201)
    body = observation("obs-201", nhs, await api.today(), "1975-2", 2.1, "mg/dL")
    first = await api.post(C, "/fhir", body)
    again = await api.post(C, "/fhir", body)
    assert (first.status_code, again.status_code) == (201, 201), first.text
    assert first.json() == again.json()
    assert first.json()["status"] == "applied"
    [row] = recorded(api, pathway_id, "external_results")
    assert row.data["source"] == "fhir"
    assert row.data["labs"]["bilirubin_umol_l"] == 35.91


async def test_a_bundle_of_observations_is_one_set_of_results(api):
    pathway_id, nhs = await referred(api, 202)
    today = await api.today()
    bundle = {
        "resourceType": "Bundle",
        "id": "bundle-202",
        "type": "collection",
        "entry": [
            {"resource": observation("o1", nhs, today, "777-3", 150, "10*9/L")},
            {"resource": observation("o2", nhs, today, "6301-6", 1.3, "{INR}")},
        ],
    }
    r = await api.post(C, "/fhir", bundle)
    assert r.status_code == 201, r.text
    [row] = recorded(api, pathway_id, "external_results")
    assert row.data["labs"]["platelets_10e9_l"] == 150.0
    assert row.data["labs"]["inr"] == 1.3


async def test_a_deceased_patient_opens_a_task_to_confirm_and_never_ends_the_pathway(api):
    pathway_id, nhs = await referred(api, 203)
    patient = {
        "resourceType": "Patient",
        "id": "pas-203",
        "identifier": [{"system": NHS_SYSTEM, "value": nhs}],
        "deceasedDateTime": f"{(await api.today()).isoformat()}T14:00:00+00:00",
    }
    r = await api.post(C, "/fhir", patient)
    assert r.status_code == 201, r.text
    assert api.row(pathway_id)["stage"] == Stage.MDT_REVIEW
    with Session(api.engine) as s:
        tasks = s.exec(
            select(TaskRow).where(TaskRow.pathway_id == pathway_id, TaskRow.state == "open")
        )
        assert sorted(t.kind for t in tasks) == [TaskKind.CONFIRM_DEATH, TaskKind.MDT_DECISION]


async def test_bad_resources_are_422_naming_the_element_and_change_nothing(api):
    pathway_id, nhs = await referred(api, 204)
    today = await api.today()
    stranger = new_nhs_number(205)
    cases = [
        (
            observation("obs-u", nhs, today, "1975-2", 2.0, "mmol/L"),
            ["body", "Observation", "valueQuantity", "code"],
        ),
        (
            {**observation("obs-c", nhs, today, "1975-2", 2.0, "mg/dL"), "code": None},
            ["body", "Observation", "code"],
        ),
        (
            observation("obs-s", stranger, today, "1975-2", 2.0, "mg/dL"),
            ["body", "subject", "identifier"],
        ),
        (
            {**observation("obs-n", nhs, today, "1975-2", 2.0, "mg/dL"), "id": None},
            ["body", "id"],
        ),
    ]
    for body, loc in cases:
        r = await api.post(C, "/fhir", body)
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["loc"] == loc, r.text
    assert recorded(api, pathway_id, "external_results") == []


async def test_results_in_a_pending_visits_window_are_offered_to_that_visits_form(
    api: Any, app: FastAPI, pathways: Any, demo_users: dict[Role, Login]
) -> None:
    """A bilirubin and platelets from the lab, collected in the two-week visit's window, fill
    that visit's form with a note saying where they came from; nothing is recorded until the
    clinician saves the visit."""
    nhs = new_nhs_number(206)
    journey = await drive_to(
        pathways, Stage.FOLLOW_UP, patient={**payloads.PATIENT, "nhs_number": nhs}
    )
    await wait_for_read_model(api, journey.id, Stage.FOLLOW_UP)
    today = await api.today()
    for rid, code, value, unit in (
        ("obs-204a", "1975-2", 1.2, "mg/dL"),  # bilirubin, converted to µmol/L
        ("obs-204b", "777-3", 140, "10*9/L"),
    ):
        r = await api.post(C, "/fhir", observation(rid, nhs, today, code, value, unit))
        assert r.status_code == 201, r.text
    [first, *_] = sorted(
        (t for t in open_tasks(api, journey.id) if t.kind == TaskKind.FOLLOW_UP_VISIT),
        key=lambda t: t.due_on,
    )

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as web:
        await login(web, demo_users[Role.COORDINATOR])
        page = (
            await web.get(f"/pathways/{journey.id}/steps/follow-up-visit?task_id={first.id}")
        ).text
        assert value_of(page, "f-labs-bilirubin_umol_l") == "20.52"
        assert value_of(page, "f-labs-platelets_10e9_l") == "140.0"
        assert (
            f"From lab feed: collected {today.isoformat()} (fhir). The results are filled in below"
            in page
        )
        # Another visit's form is not offered them.
        later = (await web.get(f"/pathways/{journey.id}/steps/follow-up-visit")).text
        assert "From lab feed" not in later
        assert value_of(later, "f-labs-bilirubin_umol_l") in (None, "")
    assert recorded(api, journey.id, "follow_up_visit") == []

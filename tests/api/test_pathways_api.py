"""Referral, list, detail, steps, events and withdrawal through the JSON API.

Against the real time-skipping Temporal server and the PostgreSQL read model.
"""

from datetime import timedelta
from typing import Any

import pytest

from models.vocab import Role, Stage
from tests import payloads
from tests.api.conftest import NO_SUCH_PATHWAY, Api

C, MDT, IR, PHYS, OPS = (
    Role.COORDINATOR,
    Role.MDT_CLINICIAN,
    Role.INTERVENTIONAL_RADIOLOGIST,
    Role.PHYSICIST,
    Role.OPS,
)
NHS = "https://fhir.nhs.uk/Id/nhs-number"
EXT = "https://sirt-pathway.example/fhir/StructureDefinition/"


def fields(response: Any) -> list[list[Any]]:
    return [d["loc"] for d in response.json()["detail"]]


# ------------------------------------------------------------------------------ referral


async def test_refer_json_starts_a_pathway_at_mdt_review(api: Api) -> None:
    referral = payloads.referral()
    r = await api.post(C, "/pathways", referral.model_dump(mode="json"))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["stage"] == "MDT_REVIEW"
    assert body["pathway_id"].startswith("pathway-")
    assert "943" not in r.text  # the answer identifies the pathway, not the patient
    detail = (await api.get(C, f"/pathways/{body['pathway_id']}")).json()
    assert detail["patient"]["nhs_number"] == referral.patient.nhs_number
    assert [h["stage"] for h in detail["history"]] == ["REFERRED", "MDT_REVIEW"]
    assert [t["kind"] for t in detail["tasks"]] == ["mdt_decision"]
    assert detail["outcomes"][0]["kind"] == "referral"
    assert "patient" not in detail["outcomes"][0]["data"]


async def test_incomplete_referral_opens_triage(api: Api) -> None:
    pid = await api.refer(grade=None)
    detail = (await api.get(C, f"/pathways/{pid}")).json()
    assert detail["stage"] == "REFERRED"
    assert detail["tasks"][0]["kind"] == "triage_referral"
    assert "grade" in detail["tasks"][0]["detail"]


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"patient": {**payloads.PATIENT, "nhs_number": "9434765918"}}, ["patient", "nhs_number"]),
        ({"grade": 4}, ["grade"]),
        ({"primary_site": "liver"}, ["primary_site"]),
        ({"surprise": 1}, ["surprise"]),
    ],
)
async def test_refer_json_422_names_the_field(
    api: Api, change: dict[str, Any], loc: list[str]
) -> None:
    body = {**payloads.referral().model_dump(mode="json"), **change}
    before = (await api.get(C, "/pathways", params={"limit": 1})).json()["total"]
    r = await api.post(C, "/pathways", body)
    assert r.status_code == 422
    assert ["body", *loc] in fields(r)
    assert "input" not in r.json()["detail"][0]  # submitted values are never echoed
    after = (await api.get(C, "/pathways", params={"limit": 1})).json()["total"]
    assert after == before


def bundle(**changes: Any) -> dict[str, Any]:
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "id": "p1",
        "identifier": [
            {"system": "https://example.org/mrn", "value": "X123"},
            {"system": NHS, "value": payloads.fresh_nhs_number()},
        ],
        "name": [
            {"use": "usual", "family": "Nickname", "given": ["Zeb"]},
            {"use": "official", "family": "Fhirpatient", "given": ["Zebedee", "Q"]},
        ],
        "birthDate": "1958-03-14",
    }
    patient.update(changes.pop("patient", {}))
    request: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "authoredOn": "2026-01-20T09:30:00+00:00",
        "requester": {"display": "Dr A Referrer"},
        "extension": [
            {"url": EXT + "primary-site", "valueCode": "midgut"},
            {"url": EXT + "who-grade", "valueInteger": 2},
            {"url": EXT + "ki67-percent", "valueDecimal": 8.0},
            {"url": EXT + "baseline-chromogranin-a", "valueQuantity": {"value": 420}},
            {"url": EXT + "referring-trust", "valueString": "Example NHS Foundation Trust"},
            {
                "url": EXT + "prior-therapy",
                "extension": [
                    {"url": "kind", "valueCode": "prrt"},
                    {"url": "last-given-on", "valueDate": "2025-06-01"},
                    {"url": "cycles", "valueInteger": 4},
                ],
            },
        ],
    }
    request.update(changes.pop("request", {}))
    entries = [{"fullUrl": "urn:uuid:p1", "resource": patient}, {"resource": request}]
    return {"resourceType": "Bundle", "type": "collection", "entry": entries, **changes}


async def test_refer_fhir_bundle(api: Api) -> None:
    sent = bundle()
    nhs = sent["entry"][0]["resource"]["identifier"][1]["value"]
    r = await api.post(C, "/pathways/fhir", sent)
    assert r.status_code == 201, r.text
    assert r.json()["stage"] == "MDT_REVIEW"
    detail = (await api.get(C, f"/pathways/{r.json()['pathway_id']}")).json()
    assert detail["patient"] == {
        "nhs_number": nhs,
        "family_name": "Fhirpatient",
        "given_name": "Zebedee",
        "date_of_birth": "1958-03-14",
    }
    referral = detail["outcomes"][0]["data"]
    assert referral["received_on"] == "2026-01-20"
    assert referral["baseline_cga_ug_l"] == 420
    assert referral["prior_therapies"] == [
        {"kind": "prrt", "last_given_on": "2025-06-01", "cycles": 4}
    ]
    assert referral["referrer"] == "Dr A Referrer"


async def test_refer_fhir_accepts_the_fhir_media_type(api: Api) -> None:
    import json

    r = await api.http.post(
        "/api/v1/pathways/fhir",
        content=json.dumps(bundle()),
        headers={**api.auth(C), "Content-Type": "application/fhir+json"},
    )
    assert r.status_code == 201, r.text


@pytest.mark.parametrize(
    ("data", "loc"),
    [
        (bundle(patient={"birthDate": "14/03/1958"}), ["entry", 0, "resource", "birthDate"]),
        (
            bundle(patient={"identifier": [{"system": NHS, "value": "1234567890"}]}),
            ["Patient", "identifier"],
        ),
        (bundle(patient={"identifier": []}), ["Patient", "identifier"]),
        (
            bundle(request={"extension": [{"url": EXT + "who-grade", "valueInteger": 9}]}),
            ["ServiceRequest", "extension", "who-grade"],
        ),
        (
            bundle(request={"subject": {"reference": "Patient/other"}}),
            ["ServiceRequest", "subject"],
        ),
        ({"resourceType": "Bundle", "type": "collection", "entry": []}, ["entry"]),
        ({"resourceType": "Patient"}, ["resource_type"]),
    ],
)
async def test_refer_fhir_422_names_the_element(
    api: Api, data: dict[str, Any], loc: list[Any]
) -> None:
    r = await api.post(C, "/pathways/fhir", data)
    assert r.status_code == 422, r.text
    locs = fields(r)
    assert any(found[1 : 1 + len(loc)] == loc for found in locs), locs


# ---------------------------------------------------------------------------------- lists


async def test_list_filters_and_paging(api: Api) -> None:
    a = await api.refer()
    b = await api.refer(grade=None)  # waits for triage by the coordinator
    r = await api.get(C, "/pathways", params={"stage": "REFERRED", "limit": 200})
    ids = [p["id"] for p in r.json()["items"]]
    assert b in ids and a not in ids
    mdt = await api.get(C, "/pathways", params={"role": "mdt_clinician", "limit": 200})
    assert a in [p["id"] for p in mdt.json()["items"]]
    assert b not in [p["id"] for p in mdt.json()["items"]]
    # Triage is due in 3 working days, the MDT decision in 14.
    within = (api.row(b)["next_due_on"] - await api.today()).days
    assert api.row(a)["next_due_on"] > api.row(b)["next_due_on"]
    soon = await api.get(C, "/pathways", params={"due_within_days": within, "limit": 200})
    soon_ids = [p["id"] for p in soon.json()["items"]]
    assert b in soon_ids and a not in soon_ids
    not_overdue = await api.get(C, "/pathways", params={"overdue": "false", "limit": 200})
    assert a in [p["id"] for p in not_overdue.json()["items"]]
    page = (await api.get(C, "/pathways", params={"limit": 1, "offset": 1})).json()
    assert page["limit"] == 1 and page["offset"] == 1 and len(page["items"]) == 1
    assert page["total"] >= 2
    first = (await api.get(C, "/pathways", params={"limit": 2})).json()["items"]
    assert first[1]["id"] == page["items"][0]["id"]


@pytest.mark.parametrize(
    "params",
    [{"stage": "NOWHERE"}, {"limit": 0}, {"limit": 201}, {"due_within_days": -1}, {"role": "x"}],
)
async def test_list_rejects_bad_filters(api: Api, params: dict[str, Any]) -> None:
    r = await api.get(C, "/pathways", params=params)
    assert r.status_code == 422
    assert fields(r)[0][:2] == ["query", next(iter(params))]


async def test_detail_404_and_malformed_id(api: Api) -> None:
    assert (await api.get(C, f"/pathways/{NO_SUCH_PATHWAY}")).status_code == 404
    assert (await api.get(C, "/pathways/943-476-5919")).status_code == 422


# ---------------------------------------------------------------------------------- steps


async def test_mdt_decision_moves_the_pathway(api: Api) -> None:
    pid = await api.refer()
    r = await api.step(MDT, pid, "mdt-decision", payloads.mdt(await api.today()))
    assert r.status_code == 200, r.text
    assert r.json()["stage"] == "WORKUP"
    assert [t["kind"] for t in r.json()["open_tasks"]] == ["schedule_workup"]
    assert api.row(pid)["stage"] == "WORKUP"  # the read model agrees when the call returns


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"ecog": 7}, ["ecog"]),
        ({"labs": {"inr": 99}}, ["labs", "inr"]),
        ({"attendees": []}, ["attendees"]),
        ({"decision": "not_suitable"}, ["reason"]),  # a model-level rule names its field
        ({"decision": "alternative"}, ["alternative_treatment"]),
        ({"meeting_date": "yesterday"}, ["meeting_date"]),
    ],
)
async def test_step_payload_422_names_the_field_and_changes_nothing(
    api: Api, change: dict[str, Any], loc: list[str]
) -> None:
    pid = await api.refer()
    before = api.row(pid)
    r = await api.step(MDT, pid, "mdt-decision", {**payloads.mdt(await api.today()), **change})
    assert r.status_code == 422, r.text
    assert ["body", *loc] in fields(r)
    assert api.row(pid) == before
    assert api.audit(pid, "step:mdt-decision")[-1].outcome == "invalid"


async def test_refused_update_422_names_the_field_and_changes_nothing(api: Api) -> None:
    pid = await api.refer()
    before = api.row(pid)
    future = (await api.today()) + timedelta(days=3)
    r = await api.step(MDT, pid, "mdt-decision", payloads.mdt(future))
    assert r.status_code == 422
    [detail] = r.json()["detail"]
    assert detail["loc"] == ["body", "meeting_date"]
    assert detail["label"] == "Meeting date"
    assert detail["msg"] == f"Meeting date: {future} is in the future"
    assert detail["type"] == "InvalidStep"
    assert api.row(pid) == before
    last = api.audit(pid, "step:mdt-decision")[-1]
    assert (last.outcome, last.detail) == ("refused", "fields: meeting_date")


async def test_step_in_the_wrong_stage_is_refused(api: Api) -> None:
    pid = await api.refer()
    before = api.row(pid)
    when = (await api.today()) + timedelta(days=2)
    r = await api.step(C, pid, "schedule-workup", {"scheduled_on": when.isoformat()})
    assert r.status_code == 422
    [detail] = r.json()["detail"]
    assert detail["loc"] == ["body", "stage"]
    assert detail["type"] == "WrongStage"
    assert api.row(pid) == before


async def test_step_on_unknown_pathway_or_step(api: Api) -> None:
    r = await api.step(MDT, NO_SUCH_PATHWAY, "mdt-decision", payloads.mdt(await api.today()))
    assert r.status_code == 404
    pid = await api.refer()
    assert (await api.step(MDT, pid, "teleport", {})).status_code == 404


async def test_unscheduled_event_is_recorded(api: Api) -> None:
    pid = await api.refer()
    event = {
        "kind": "adverse_event",
        "occurred_on": (await api.today()).isoformat(),
        "adverse_event": {"term": "nausea", "ctcae_grade": 1},
    }
    r = await api.post(C, f"/pathways/{pid}/events", event)
    assert r.status_code == 200, r.text
    detail = (await api.get(C, f"/pathways/{pid}")).json()
    assert detail["outcomes"][-1]["kind"] == "adverse_event"
    bad = await api.post(C, f"/pathways/{pid}/events", {**event, "adverse_event": None})
    assert bad.status_code == 422
    assert fields(bad) == [["body", "adverse_event"]]


async def test_withdraw_ends_the_pathway(api: Api) -> None:
    pid = await api.refer()
    r = await api.post(
        MDT,
        f"/pathways/{pid}/withdraw",
        {"occurred_on": (await api.today()).isoformat(), "reason": "patient choice"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["stage"] == "WITHDRAWN"
    assert r.json()["open_tasks"] == []
    assert api.row(pid)["stage"] == Stage.WITHDRAWN
    again = await api.step(MDT, pid, "mdt-decision", payloads.mdt(await api.today()))
    assert again.status_code in (409, 422)
    missing = await api.post(MDT, f"/pathways/{pid}/withdraw", {"occurred_on": "2026-01-01"})
    assert fields(missing) == [["body", "reason"]]

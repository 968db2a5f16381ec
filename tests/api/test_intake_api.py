"""The reconciliation worklist over the API: a coordinator links or discards a laboratory
message that matched no open pathway."""

from typing import Any

import httpx

from core.step_slots import StepSlots
from intake import store
from intake.service import Intake
from models.vocab import Role
from tests import payloads
from tests.api.conftest import BASE, login
from tests.intake.messages import new_nhs_number, oru

C = Role.COORDINATOR
ALT = "1742-6"


async def test_a_coordinator_links_one_unmatched_result_and_discards_another(api, workflow_env):
    nhs = new_nhs_number(101)
    pathway_id = await api.refer(patient={**payloads.PATIENT, "nhs_number": nhs})
    intake = Intake(workflow_env.client, api.engine)
    today = await api.today()
    # The laboratory mistyped the NHS number on one request and sent a stranger's on another.
    for control, number in (("LAB-101", new_nhs_number(102)), ("LAB-102", new_nhs_number(103))):
        await intake.receive_hl7(oru(control, number, today, [(ALT, "52", "U/L")]))

    r = await api.get(C, "/intake/unmatched")
    assert r.status_code == 200
    waiting = {m["control_id"]: m for m in r.json()}
    assert waiting["LAB-101"]["reason"] == (
        "PID-3: no open pathway for this NHS number; sent for reconciliation"
    )
    assert waiting["LAB-101"]["message_type"] == "ORU^R01"
    assert (await api.get(Role.MDT_CLINICIAN, "/intake/unmatched")).status_code == 403

    r = await api.post(C, "/intake/unmatched/hl7v2/LAB-101/link", {"pathway_id": pathway_id})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "linked"
    r = await api.post(C, "/intake/unmatched/hl7v2/LAB-102/discard", {"note": "not ours"})
    assert r.status_code == 200, r.text

    r = await api.get(C, f"/pathways/{pathway_id}")
    results: list[Any] = [o for o in r.json()["outcomes"] if o["kind"] == "external_results"]
    assert [o["data"]["labs"]["alt_u_l"] for o in results] == [52.0]
    rows = {c: store.get(api.engine, "hl7v2", c) for c in ("LAB-101", "LAB-102")}
    assert {c: (row.status if row else None) for c, row in rows.items()} == {
        "LAB-101": "linked",
        "LAB-102": "discarded",
    }
    # Neither waits any more; a second discard names what is wrong and changes nothing.
    again = await api.post(C, "/intake/unmatched/hl7v2/LAB-102/discard", {"note": "twice"})
    assert again.status_code == 422
    assert "control_id: 'LAB-102' is not awaiting reconciliation" in again.text
    remaining = {m["control_id"] for m in (await api.get(C, "/intake/unmatched")).json()}
    assert not remaining & {"LAB-101", "LAB-102"}


async def test_the_reconciliation_page_links_a_message(api, workflow_env, app, demo_users):
    nhs = new_nhs_number(111)
    pathway_id = await api.refer(patient={**payloads.PATIENT, "nhs_number": nhs})
    intake = Intake(workflow_env.client, api.engine)
    await intake.receive_hl7(
        oru("LAB-111", new_nhs_number(112), await api.today(), [(ALT, "61", "U/L")])
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as browser:
        token = await login(browser, demo_users[C])
        page = await browser.get("/intake")
        assert page.status_code == 200
        assert '<tr data-control-id="LAB-111">' in page.text
        r = await browser.post(
            "/intake/hl7v2/LAB-111/link", data={"csrf_token": token, "pathway_id": pathway_id}
        )
        assert r.status_code == 303
        after = await browser.get("/intake")
    assert "LAB-111: applied as external-results" in after.text
    assert '<tr data-control-id="LAB-111">' not in after.text
    row = store.get(api.engine, "hl7v2", "LAB-111")
    assert row is not None and row.status == "linked"


def scrape(text: str) -> dict[str, float]:
    """The intake series of a /metrics page, by name and labels."""
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("sirt_intake_")
    }


async def test_ops_see_messages_in_answers_out_and_the_backlog_per_channel(api, workflow_env):
    nhs = new_nhs_number(121)
    await api.refer(patient={**payloads.PATIENT, "nhs_number": nhs})
    ops = api.auth(Role.OPS)
    before = scrape((await api.http.get("/metrics", headers=ops)).text)
    intake = Intake(workflow_env.client, api.engine)
    today = await api.today()
    await intake.receive_hl7(oru("LAB-121", nhs, today, [(ALT, "30", "U/L")]))
    await intake.receive_hl7(oru("LAB-122", new_nhs_number(122), today, [(ALT, "30", "U/L")]))
    await intake.receive_hl7(b"not HL7 at all")
    await intake.receive_hl7(oru("LAB-121", nhs, today, [(ALT, "30", "U/L")]))  # a resend

    r = await api.http.get("/metrics", headers=ops)
    assert r.status_code == 200
    after = scrape(r.text)
    delta = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
    assert delta == {
        'sirt_intake_messages{ack="AA",channel="hl7v2"}': 1,
        'sirt_intake_messages{ack="AE",channel="hl7v2"}': 1,
        'sirt_intake_messages{ack="AR",channel="hl7v2"}': 1,
        'sirt_intake_reconciliation_backlog{channel="hl7v2"}': 1,
    }
    overview = (await api.get(Role.OPS, "/ops/dashboard")).json()
    channels = {c["channel"]: c for c in overview["intake"]}
    assert (
        channels["hl7v2"]["unmatched"]
        == after['sirt_intake_reconciliation_backlog{channel="hl7v2"}']
    )


async def test_a_result_sent_while_every_step_slot_is_taken_is_kept_and_applied_when_resent(
    api, workflow_env
):
    """The web app's step slots bound its intake too: a laboratory result that finds them all
    taken is stored, answered 'send again' and not applied; the resend applies it once."""
    nhs = new_nhs_number(131)
    pathway_id = await api.refer(patient={**payloads.PATIENT, "nhs_number": nhs})
    slots = StepSlots(1, wait_s=0.05)
    intake = Intake(workflow_env.client, api.engine, slots=slots)
    message = oru("LAB-131", nhs, await api.today(), [(ALT, "52", "U/L")])
    async with slots.taken():
        busy = await intake.receive_hl7(message)
    assert b"|AE|" in busy
    assert b"not applied now: the service is busy; send again" in busy
    row = store.get(api.engine, "hl7v2", "LAB-131")
    assert row is not None and row.status == "received"
    assert not [
        o
        for o in (await api.get(C, f"/pathways/{pathway_id}")).json()["outcomes"]
        if o["kind"] == "external_results"
    ]
    applied = await intake.receive_hl7(message)
    assert b"|AA|" in applied
    r = await api.get(C, f"/pathways/{pathway_id}")
    results = [o for o in r.json()["outcomes"] if o["kind"] == "external_results"]
    assert [o["data"]["labs"]["alt_u_l"] for o in results] == [52.0]
    assert not slots.all_taken()

"""HL7v2 over MLLP, on a real TCP socket: a laboratory's results and a PAS's deaths reach the
pathway once each, and every message is answered AA, AE or AR as the standard says."""

import asyncio
from typing import Any

import pytest
from sqlmodel import Session, select

from intake import store
from intake.service import Intake
from models.inbound import InboundMessageRow
from models.tables import OutcomeRow, TaskRow
from models.vocab import Stage, TaskKind
from tests import payloads
from tests.intake.messages import connect, death, listener, new_nhs_number, oru
from tests.journey import Journey, drive_to
from tests.processes import sirt_env, sirt_process

BILIRUBIN, ALBUMIN, ALT, PLATELETS, INR = "1975-2", "1751-7", "1742-6", "777-3", "6301-6"


def patient(nhs_number: str) -> dict[str, Any]:
    return {**payloads.PATIENT, "nhs_number": nhs_number}


@pytest.fixture
def intake(pathways: Any) -> Intake:
    return Intake(pathways.client, pathways.engine)


def outcomes(j: Journey, kind: str) -> list[OutcomeRow]:
    with Session(j.pathways.engine) as s:
        return list(
            s.exec(
                select(OutcomeRow).where(OutcomeRow.pathway_id == j.id, OutcomeRow.kind == kind)
            ).all()
        )


def open_tasks(j: Journey) -> list[str]:
    with Session(j.pathways.engine) as s:
        rows = s.exec(select(TaskRow).where(TaskRow.pathway_id == j.id, TaskRow.state == "open"))
        return sorted(t.kind for t in rows)


def inbound(intake: Intake, control: str) -> InboundMessageRow:
    row = store.get(intake.engine, "hl7v2", control)
    assert row is not None
    return row


async def test_a_lab_result_after_treatment_is_converted_graded_and_opens_a_reild_review(
    pathways, intake
):
    nhs = new_nhs_number(1)
    j = await drive_to(pathways, Stage.FOLLOW_UP, patient=patient(nhs))
    await j.sleep(14)
    today = await j.today()
    # The 2-week call found new ascites; the clinic's own bloods were normal.
    await j.step(
        "follow-up-visit",
        payloads.visit(
            "2w", today, ascites="new_or_worse", labs={"bilirubin_umol_l": 15, "albumin_g_l": 40}
        ),
    )
    assert TaskKind.REILD_REVIEW not in open_tasks(j)

    # Then the laboratory sends bilirubin in mg/dL and albumin in g/dL, as US analysers do.
    message = oru(
        "LAB-0001",
        nhs,
        today,
        [(BILIRUBIN, "2.1", "mg/dL"), (ALBUMIN, "2.9", "g/dL"), (ALT, "40", "U/L")],
    )
    async with listener(intake) as port:
        client = await connect(port)
        ack = await client.send(message)
        await client.close()

    assert (ack.code, ack.text) == ("AA", "applied as external-results o9")
    [recorded] = outcomes(j, "external_results")
    assert recorded.data["labs"]["bilirubin_umol_l"] == 35.91
    assert recorded.data["labs"]["albumin_g_l"] == 29.0
    assert recorded.data["labs"]["alt_u_l"] == 40.0
    assert recorded.data["source"] == "hl7v2"
    assert recorded.data["derived"]["ctcae_grades"] == {"bilirubin": 2, "alt": 0, "albumin": 2}
    assert recorded.data["derived"]["reild"]["present"] is True
    assert TaskKind.REILD_REVIEW in open_tasks(j)
    # Kept before it was answered, and encrypted: the NHS number is not in the stored text.
    row = inbound(intake, "LAB-0001")
    assert (row.status, row.ack_code, row.pathway_id) == ("applied", "AA", j.id)
    assert nhs.replace(" ", "") not in row.raw and "Testpatient" not in row.raw
    assert intake.sealer.open(row.raw) == message


async def test_a_message_sent_twice_is_answered_the_same_and_applied_once(pathways, intake):
    nhs = new_nhs_number(2)
    j = await drive_to(pathways, Stage.MDT_REVIEW, patient=patient(nhs))
    message = oru("LAB-0002", nhs, await j.today(), [(PLATELETS, "180", "10*9/L")])
    async with listener(intake) as port:
        first = await connect(port)
        ack1 = await first.send(message)
        await first.close()
        # The sender timed out waiting and resends on a new connection.
        second = await connect(port)
        ack2 = await second.send(message)
        await second.close()

    assert ack1.code == "AA"
    assert ack2.raw == ack1.raw
    assert len(outcomes(j, "external_results")) == 1


async def test_an_unknown_patient_is_answered_ae_and_waits_on_the_reconciliation_worklist(
    pathways, intake
):
    nhs = new_nhs_number(3)
    j = await drive_to(pathways, Stage.MDT_REVIEW, patient=patient(nhs))
    stranger = new_nhs_number(33)
    message = oru("LAB-0003", stranger, await j.today(), [(INR, "1.1", "{INR}")])
    async with listener(intake) as port:
        client = await connect(port)
        ack = await client.send(message)
        await client.close()

    assert ack.code == "AE"
    assert ack.text == "PID-3: no open pathway for this NHS number; sent for reconciliation"
    assert [r.control_id for r in store.unmatched(intake.engine)].count("LAB-0003") == 1

    # The coordinator sees it is this patient's (a mistyped NHS number at the lab) and links it.
    outcome = await intake.link("hl7v2", "LAB-0003", j.id, user="coord1")
    assert (outcome.status, outcome.code) == ("linked", "AA")
    [recorded] = outcomes(j, "external_results")
    assert recorded.data["labs"]["inr"] == 1.1
    row = inbound(intake, "LAB-0003")
    assert (row.status, row.pathway_id, row.resolved_by) == ("linked", j.id, "coord1")
    assert "LAB-0003" not in [r.control_id for r in store.unmatched(intake.engine)]


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (b"this is not HL7", "MSH: not an HL7v2 message"),
        (
            oru(
                "LAB-0004",
                new_nhs_number(4),
                payloads.date(2026, 1, 1),
                [(BILIRUBIN, "2", "mmol/L")],
            ),
            "OBX-6: unit 'mmol/L' of bilirubin (1975-2); accepted: umol/l, µmol/l, mg/dl",
        ),
        (
            oru("LAB-0005", new_nhs_number(5), payloads.date(2026, 1, 1), [(ALT, "high", "U/L")]),
            "OBX-5: ALT (1742-6) value 'high' is not a number",
        ),
        (
            oru("LAB-0006", "943 476 5918", payloads.date(2026, 1, 1), [(ALT, "30", "U/L")]),
            "PID-3: NHS number check digit is wrong: the first nine digits need 9 at the end",
        ),
        (
            b"MSH|^~\\&|PAS|LTH|SIRT|LTH|20261128||ADT^A01|PAS-7|P|2.5.1\rPID|1||x",
            "MSH-9: message type 'ADT^A01' is not taken; accepted: ORU^R01, ADT^A03, ADT^A08",
        ),
    ],
    ids=["not-hl7", "unknown-unit", "non-numeric", "bad-nhs-number", "unsupported-type"],
)
async def test_a_malformed_message_is_rejected_ar_naming_the_element(
    pathways, intake, message, reason
):
    async with listener(intake) as port:
        client = await connect(port)
        ack = await client.send(message)
        await client.close()
    assert ack.code == "AR"
    assert ack.text.startswith(reason)


async def test_a_reported_death_waits_for_a_coordinator_to_confirm_it(pathways, intake):
    nhs = new_nhs_number(6)
    j = await drive_to(pathways, Stage.MDT_REVIEW, patient=patient(nhs))
    today = await j.today()
    async with listener(intake) as port:
        client = await connect(port)
        ack = await client.send(death("PAS-0006", nhs, today))
        # The PAS then updates the record (A08) with the same death: still one task.
        ack2 = await client.send(death("PAS-0007", nhs, today, kind="ADT^A08"))
        await client.close()

    assert (ack.code, ack2.code) == ("AA", "AA")
    state = await j.live()
    assert state.stage == Stage.MDT_REVIEW, "a message never ends a pathway"
    assert open_tasks(j) == [TaskKind.CONFIRM_DEATH, TaskKind.MDT_DECISION]

    state = await j.step("confirm-death", {"confirmed": True, "died_on": today.isoformat()})
    assert state.stage == Stage.DECEASED
    assert state.exit_reason == f"died {today}: confirmed from a reported death"
    assert open_tasks(j) == []


async def test_a_burst_of_500_results_over_five_connections_loses_none(pathways, intake):
    nhs = new_nhs_number(7)
    j = await drive_to(pathways, Stage.MDT_REVIEW, patient=patient(nhs))
    today = await j.today()

    async with listener(intake) as port:

        async def sender(n: int) -> list[str]:
            client = await connect(port)
            codes = []
            for i in range(100):
                value = str(20 + (n * 100 + i) % 50)
                message = oru(f"BURST-{n}-{i:03}", nhs, today, [(ALT, value, "U/L")])
                codes.append((await client.send(message)).code)
            await client.close()
            return codes

        results = await asyncio.gather(*(sender(n) for n in range(5)))

    assert [c for codes in results for c in codes] == ["AA"] * 500
    assert len(outcomes(j, "external_results")) == 500


async def test_sirt_hl7_listen_is_a_process_of_its_own(pathways, intake, db_url, tmp_path):
    nhs = new_nhs_number(8)
    j = await drive_to(pathways, Stage.MDT_REVIEW, patient=patient(nhs))
    target = pathways.client.service_client.config.target_host
    env = sirt_env(tmp_path, SIRT_TEMPORAL_ADDRESS=target, DATABASE_URL=db_url)
    port = int(env["SIRT_HL7_PORT"])
    with sirt_process(tmp_path, ["hl7", "listen"], env) as listening:
        await asyncio.to_thread(
            listening.wait_for_output, f"HL7v2 MLLP listener on 127.0.0.1:{port}", 60
        )
        client = await connect(port)
        ack = await client.send(oru("LAB-0008", nhs, await j.today(), [(ALT, "33", "U/L")]))
        await client.close()
    assert ack.code == "AA"
    [recorded] = outcomes(j, "external_results")
    assert recorded.data["labs"]["alt_u_l"] == 33.0

"""A lab result that arrives while the Temporal server is down is kept, answered "send again",
and applied once when the laboratory resends it after the server is back.

Real processes: a Temporal dev server persisting to SQLite (killed, then started again on the
same port and file), `sirt worker`, `sirt hl7 listen`, and a SQLite read model; the laboratory
is an MLLP client over TCP.
"""

import asyncio
import os
import signal
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from api.accounts import issue_token
from api.seed import seed_demo_users
from core.clock import today
from core.config import Settings
from core.db import get_engine, migrate
from core.devserver import DevServer
from core.temporal import connect
from intake import store
from models.state import PathwayState
from models.tables import OutcomeRow, PathwayRow
from models.vocab import Stage
from tests import payloads
from tests.intake.messages import connect as mllp_connect
from tests.intake.messages import new_nhs_number, oru
from tests.processes import poll_until, sirt_env, sirt_process
from tests.readmodel import assert_read_model_matches

# The dev server keeps the machine's time: this test pins no date and depends on none.
pytestmark = pytest.mark.real_time

ALT = "1742-6"
SEND_AGAIN = "not applied now: the pathway engine is unavailable; send again"


def settings_of(env: dict[str, str]) -> Settings:
    """The settings the `sirt` processes read from ``env``, for the test's own client."""
    return Settings.model_validate(
        {
            "data_dir": env["SIRT_DATA_DIR"],
            "temporal_address": env["SIRT_TEMPORAL_ADDRESS"],
            "task_queue": env["SIRT_TASK_QUEUE"],
            "database_url": env["DATABASE_URL"],
            "encryption_key": env["SIRT_ENCRYPTION_KEY"],
        }
    )


def kill(server: DevServer) -> None:
    """SIGKILL the dev server, no warning: an outage, not a shutdown."""
    assert server.pid is not None
    os.kill(server.pid, signal.SIGKILL)
    server.stop()  # reaps it and closes its log: it is already dead


def external_results(engine: Engine, pathway_id: str) -> list[OutcomeRow]:
    with Session(engine) as s:
        query = select(OutcomeRow).where(
            OutcomeRow.pathway_id == pathway_id, OutcomeRow.kind == "external_results"
        )
        return list(s.exec(query).all())


def open_pathway_id(engine: Engine) -> str | None:
    """The one pathway the read model shows, once its projection has landed."""
    with Session(engine) as s:
        rows = s.exec(select(PathwayRow)).all()
        return rows[0].id if len(rows) == 1 and rows[0].stage == Stage.MDT_REVIEW else None


@pytest.fixture
def processes() -> Iterator[ExitStack]:
    """Whatever the test starts is stopped after it, in reverse order."""
    with ExitStack() as stack:
        yield stack


async def test_a_result_sent_during_a_temporal_outage_is_applied_once_when_resent(
    tmp_path: Path, processes: ExitStack
) -> None:
    env = sirt_env(tmp_path)
    settings = settings_of(env)
    migrate(settings.resolved_database_url)
    engine = get_engine(settings.resolved_database_url)
    tokens = {
        role: issue_token(engine, name, "outage") for name, _, role in seed_demo_users(engine)
    }
    port = int(env["SIRT_TEMPORAL_ADDRESS"].rsplit(":", 1)[1])
    server = DevServer(data_dir=tmp_path / "temporal", port=port, ui_port=None)
    await server.start(timeout=120)
    processes.callback(server.stop)

    client = await connect(settings)
    worker = processes.enter_context(sirt_process(tmp_path, ["worker"], env))
    listener = processes.enter_context(sirt_process(tmp_path, ["hl7", "listen"], env))
    await asyncio.to_thread(worker.wait_for_output, "worker polling task queue", 120)
    await asyncio.to_thread(
        listener.wait_for_output, f"HL7v2 MLLP listener on 127.0.0.1:{env['SIRT_HL7_PORT']}", 60
    )

    # A coordinator refers the patient through the CLI; the pathway waits for the MDT.
    nhs = new_nhs_number(15)
    referral = tmp_path / "referral.json"
    patient = {**payloads.PATIENT, "nhs_number": nhs}
    referral.write_text(payloads.referral(patient=patient).model_dump_json())
    refer_env = {**env, "SIRT_TOKEN": tokens["coordinator"]}
    with sirt_process(tmp_path, ["refer", "--file", str(referral)], refer_env) as refer:
        await asyncio.to_thread(refer.popen.wait, 120)
        assert refer.popen.returncode == 0, refer.output()
    await asyncio.to_thread(
        poll_until, lambda: open_pathway_id(engine) is not None, "the pathway in MDT_REVIEW", 60
    )
    pathway_id = open_pathway_id(engine)
    assert pathway_id is not None

    # The Temporal server dies. The laboratory's analyser reports an ALT.
    kill(server)
    message = oru("LAB-OUTAGE-1", nhs, today(), [(ALT, "41", "U/L")])
    lab = await mllp_connect(int(env["SIRT_HL7_PORT"]))
    during = await lab.send(message)

    assert (during.code, during.text) == ("AE", SEND_AGAIN)
    # Kept before it was answered, encrypted, and not applied: still `received`.
    row = store.get(engine, "hl7v2", "LAB-OUTAGE-1")
    assert row is not None
    assert (row.status, row.ack_code, row.pathway_id) == ("received", None, None)
    assert nhs.replace(" ", "") not in row.raw and "Testpatient" not in row.raw
    assert store.Sealer(client).open(row.raw) == message
    assert external_results(engine, pathway_id) == []
    assert listener.popen.poll() is None, "the listener outlived the outage"

    # The server comes back on the same port with the same database; the lab resends.
    server = DevServer(data_dir=tmp_path / "temporal", port=port, ui_port=None)
    await server.start(timeout=120)
    processes.callback(server.stop)
    after = await lab.send(message)

    assert (after.code, after.text) == ("AA", "applied as external-results o2")
    row = store.get(engine, "hl7v2", "LAB-OUTAGE-1")
    assert row is not None
    assert (row.status, row.ack_code, row.pathway_id) == ("applied", "AA", pathway_id)

    # The lab's interface engine missed that ACK and sends the message once more.
    again = await lab.send(message)
    await lab.close()

    assert again.raw == after.raw
    state = await client.get_workflow_handle(pathway_id).query("state", result_type=PathwayState)
    assert (state.stage, state.outcome_counter) == (Stage.MDT_REVIEW, 2)
    await asyncio.to_thread(
        poll_until,
        lambda: len(external_results(engine, pathway_id)) == 1,
        "the result in the read model",
        30,
    )
    assert_read_model_matches(engine, state)
    [recorded] = external_results(engine, pathway_id)
    assert recorded.data["labs"]["alt_u_l"] == 41.0
    assert recorded.data["source"] == "hl7v2"

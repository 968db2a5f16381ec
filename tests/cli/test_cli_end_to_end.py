"""The CLI against the real stack: the Temporal dev server, a worker and a SQLite read model.

Also the confidentiality promise: the patient's identity never reaches Temporal's own storage.
"""

import asyncio
import base64
import json
import re
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, col, select
from temporalio.client import Client
from typer.testing import CliRunner, Result

from api.accounts import issue_token
from api.permissions import MATRIX, step_action
from api.routes.ops import sdk_metrics, temporal_health
from api.seed import seed_demo_users
from cli.main import app
from core import clock
from core.config import Settings
from core.db import get_engine, migrate
from core.devserver import DevServer, free_port
from core.temporal import connect
from models.users import AuditEventRow
from tests import payloads
from tests.conftest import TEST_KEY
from worker import build_worker

IDENTIFIERS = [
    payloads.PATIENT["family_name"],
    payloads.PATIENT["given_name"],
    payloads.PATIENT["nhs_number"],  # with spaces
    payloads.PATIENT["nhs_number"].replace(" ", ""),
]
# The dev server keeps the machine's time: these tests pin no date and depend on none.
pytestmark = pytest.mark.real_time

PATHWAY_ID = re.compile(r"^pathway-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@dataclass
class Stack:
    """A dev server, a worker polling it and the environment the CLI runs with."""

    server: DevServer
    client: Client
    env: dict[str, str]
    tmp: Path
    tokens: dict[str, str]

    async def sirt(self, *args: str) -> Result:
        """Run the CLI in a thread: it runs its own event loop, this test owns this one.

        Changes run as a named user: the role whose step it is (a coordinator refers)."""
        runner = CliRunner()
        role = sorted(MATRIX[step_action(args[1])])[0] if args[0] == "submit" else "coordinator"
        env = {**self.env, "SIRT_TOKEN": self.tokens[role]}
        result = await asyncio.to_thread(runner.invoke, app, list(args), env=env)
        assert "Traceback" not in result.output, result.output
        return result


stack_settings: list[Settings] = []


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    tmp = tmp_path_factory.mktemp("e2e")
    host = "127.0.0.1"
    env = {
        "SIRT_DATA_DIR": str(tmp / "data"),
        "SIRT_TEMPORAL_ADDRESS": f"{host}:{free_port()}",
        "SIRT_TEMPORAL_UI_PORT": str(free_port()),
        "SIRT_TASK_QUEUE": f"tq-cli-{uuid.uuid4()}",
        "DATABASE_URL": f"sqlite:///{tmp / 'readmodel.db'}",
        "SIRT_ENCRYPTION_KEY": base64.b64encode(TEST_KEY).decode(),
    }
    settings = Settings.model_validate(
        {
            "data_dir": env["SIRT_DATA_DIR"],
            "temporal_address": env["SIRT_TEMPORAL_ADDRESS"],
            "temporal_ui_port": env["SIRT_TEMPORAL_UI_PORT"],
            "task_queue": env["SIRT_TASK_QUEUE"],
            "database_url": env["DATABASE_URL"],
            "encryption_key": env["SIRT_ENCRYPTION_KEY"],
            "sdk_metrics_address": f"{host}:{free_port()}",
        }
    )
    migrate(settings.resolved_database_url)
    users = get_engine(settings.resolved_database_url)
    tokens = {role: issue_token(users, name, "e2e") for name, _, role in seed_demo_users(users)}
    server = DevServer.from_settings(settings)
    await server.start(timeout=90)
    with server:
        client = await connect(settings)
        stack_settings.append(settings)
        engine = get_engine(settings.resolved_database_url)
        with ThreadPoolExecutor(max_workers=8) as executor:
            async with build_worker(client, engine, settings.task_queue, executor):
                yield Stack(server, client, env, tmp, tokens)
        engine.dispose()


async def poll(
    check: Callable[[], Any], what: str, timeout: float = 15.0, interval: float = 0.25
) -> Any:
    """Bounded polling for eventually consistent reads (read model, visibility)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"{what} not seen within {timeout:.0f} s")
        await asyncio.sleep(interval)


def read_bytes(files: list[Path]) -> bytes:
    assert files, "no files to inspect"
    return b"".join(f.read_bytes() for f in files)


def another_patient() -> dict[str, str]:
    """The test patient's names under an NHS number of their own: a second open pathway of
    one NHS number is refused."""
    return {**payloads.PATIENT, "nhs_number": payloads.fresh_nhs_number()}


async def refer(stack: Stack, patient: dict[str, str] = payloads.PATIENT) -> str:
    """A complete referral made with `sirt refer --file`; its pathway id."""
    path = stack.tmp / f"referral-{uuid.uuid4()}.json"
    path.write_text(payloads.referral(patient=patient).model_dump_json())
    result = await stack.sirt("refer", "--file", str(path))
    assert result.exit_code == 0, result.output
    pathway_id = result.stdout.strip()
    assert PATHWAY_ID.match(pathway_id), result.stdout
    assert "stage MDT_REVIEW" in result.stderr
    # Audited as the named user who ran it, like the API.
    with Session(get_engine(stack.env["DATABASE_URL"])) as session:
        rows = session.exec(
            select(AuditEventRow).where(col(AuditEventRow.pathway_id) == pathway_id)
        ).all()
        assert [(r.username, r.action, r.outcome, r.detail) for r in rows] == [
            ("coordinator", "pathway:refer", "ok", "cli")
        ]
    for identifier in IDENTIFIERS:
        assert identifier not in result.output
    return pathway_id


@pytest.fixture(scope="module")
async def referred(stack: Stack) -> str:
    """One pathway the read-only tests share (nothing moves it on)."""
    return await refer(stack)


async def test_refer_then_status_and_list(stack: Stack, referred: str) -> None:
    async def in_mdt_review() -> dict[str, Any] | None:
        result = await stack.sirt("status", referred, "--json")
        if result.exit_code != 0:
            return None  # the projection has not landed yet
        view: dict[str, Any] = json.loads(result.stdout)
        return view if view["stage"] == "MDT_REVIEW" else None

    view = await poll(in_mdt_review, "MDT_REVIEW in the read model")
    assert [t["kind"] for t in view["open_tasks"]] == ["mdt_decision"]
    assert [h["stage"] for h in view["history"]] == ["REFERRED", "MDT_REVIEW"]

    text = await stack.sirt("status", referred)
    assert text.exit_code == 0
    assert "MDT_REVIEW" in text.stdout
    assert "MDT selection decision" in text.stdout
    for identifier in IDENTIFIERS:
        assert identifier not in text.output

    listed = await stack.sirt("list", "--stage", "MDT_REVIEW")
    assert listed.exit_code == 0
    assert referred in listed.stdout
    assert referred not in (await stack.sirt("list", "--stage", "WORKUP")).stdout
    as_json = json.loads((await stack.sirt("list", "--json")).stdout)
    assert referred in [p["id"] for p in as_json]


async def test_refer_refuses_an_nhs_number_with_an_open_pathway(
    stack: Stack, referred: str
) -> None:
    # The same patient again, as the API refuses it (api.queries.open_duplicate, one rule).
    path = stack.tmp / "referral-again.json"
    path.write_text(payloads.referral(patient=payloads.PATIENT).model_dump_json())
    again = await stack.sirt("refer", "--file", str(path))
    assert again.exit_code == 1, again.output
    assert again.stdout == ""
    assert f"this NHS number already has an open pathway ({referred})" in again.stderr
    assert "give it with --second-pathway-reason" in again.stderr
    engine = get_engine(stack.env["DATABASE_URL"])
    with Session(engine) as session:
        rows = session.exec(
            select(AuditEventRow).where(col(AuditEventRow.pathway_id) == referred)
        ).all()
    assert ("coordinator", "pathway:refer", "conflict") in [
        (r.username, r.action, r.outcome) for r in rows
    ]
    # A new primary: a second pathway, deliberately.
    reason = ["--second-pathway-reason", "New primary: pancreatic NET"]
    second = await stack.sirt("refer", "--file", str(path), *reason)
    assert second.exit_code == 0, second.output
    assert PATHWAY_ID.match(second.stdout.strip()) and second.stdout.strip() != referred


async def test_visibility_finds_the_stage(stack: Stack, referred: str) -> None:
    async def found() -> bool:
        ids = [wf.id async for wf in stack.client.list_workflows("PathwayStage='MDT_REVIEW'")]
        return referred in ids

    await poll(found, "the workflow in the PathwayStage='MDT_REVIEW' visibility query", 10)


async def test_submit_refused_then_accepted(stack: Stack) -> None:
    referred = await refer(stack, another_patient())
    # The dev server runs on the machine's time; a date read just before midnight is still
    # today or yesterday when the workflow checks it, never in the future.
    today = clock.today()
    wrong_stage = stack.tmp / "triage.json"
    wrong_stage.write_text(json.dumps({"complete": True}))
    refused = await stack.sirt("submit", "triage", referred, "--file", str(wrong_stage))
    assert refused.exit_code == 1, refused.output
    assert "refused: Stage: the pathway is in MDT_REVIEW" in refused.stderr

    future = stack.tmp / "mdt-future.json"
    future.write_text(json.dumps(payloads.mdt(today + timedelta(days=30))))
    refused = await stack.sirt("submit", "mdt-decision", referred, "--file", str(future))
    assert refused.exit_code == 1, refused.output
    assert f"refused: Meeting date: {today + timedelta(days=30)} is in the future" in refused.stderr

    mdt = stack.tmp / "mdt.json"
    mdt.write_text(json.dumps(payloads.mdt(today)))
    accepted = await stack.sirt("submit", "mdt-decision", referred, "--file", str(mdt))
    assert accepted.exit_code == 0, accepted.output
    assert f"{referred}: stage WORKUP" in accepted.stdout


async def test_submit_unknown_pathway(stack: Stack) -> None:
    mdt = stack.tmp / "mdt-unknown.json"
    mdt.write_text(json.dumps(payloads.mdt(clock.today())))
    result = await stack.sirt("submit", "mdt-decision", "pathway-nobody", "--file", str(mdt))
    assert result.exit_code == 1, result.output
    assert "unknown pathway 'pathway-nobody'" in result.stderr


async def test_patient_identity_never_reaches_temporal_storage(stack: Stack, referred: str) -> None:
    # Let the workflow run first: the read model has the patient once the referral projected.
    async def projected() -> bool:
        return (await stack.sirt("status", referred)).exit_code == 0

    await poll(projected, "the referral in the read model")
    data_dir = Path(stack.env["SIRT_DATA_DIR"])
    temporal_files = sorted(data_dir.glob("temporal.db*"))  # .db, -wal, -shm
    temporal_bytes = read_bytes(temporal_files) + stack.server.log_file.read_bytes()
    # The workflow id is there, so the bytes are the right ones ...
    assert referred.encode() in temporal_bytes
    for identifier in IDENTIFIERS:
        assert identifier.encode() not in temporal_bytes, f"{identifier!r} in Temporal storage"
    # ... and the search would find the identity where it is allowed to be: the read model.
    readmodel_path = Path(stack.env["DATABASE_URL"].removeprefix("sqlite:///"))
    readmodel = read_bytes(sorted(readmodel_path.parent.glob(readmodel_path.name + "*")))
    assert payloads.PATIENT["family_name"].encode() in readmodel


async def test_the_ops_dashboard_sees_the_workers_pollers(stack: Stack) -> None:
    health = await temporal_health(stack.client, "default", stack.env["SIRT_TASK_QUEUE"])
    assert health.error is None
    assert health.workflow_pollers >= 1 and health.activity_pollers >= 1
    assert health.last_poll_at is not None
    assert health.backlog == 0  # an idle worker keeps up


async def test_the_worker_serves_the_sdks_prometheus_metrics(stack: Stack) -> None:
    address = stack_settings[-1].sdk_metrics_address
    body = await asyncio.to_thread(
        lambda: urllib.request.urlopen(f"http://{address}/metrics", timeout=10).read().decode()
    )
    assert "temporal_" in body
    # /metrics appends the same exposition to the product's own figures.
    assert b"temporal_" in await sdk_metrics(stack_settings[-1])


async def updates_accepted(stack: Stack, pathway_id: str, update: str) -> int:
    """How many times the pathway accepted this Update, from its history."""
    history = await stack.client.get_workflow_handle(pathway_id).fetch_history()
    return sum(
        1
        for e in history.events
        if e.HasField("workflow_execution_update_accepted_event_attributes")
        and e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
        == update
    )


async def test_submit_retried_with_its_key_applies_once(stack: Stack) -> None:
    referred = await refer(stack, another_patient())
    today = clock.today()
    mdt = stack.tmp / "mdt-retry.json"
    mdt.write_text(json.dumps(payloads.mdt(today)))
    decided = await stack.sirt("submit", "mdt-decision", referred, "--file", str(mdt))
    assert decided.exit_code == 0, decided.output
    # No key given: one is made and printed, so the user can retry with it.
    printed = re.search(
        r"Idempotency key: (\S+) \(to retry safely: --idempotency-key \1\)", decided.stderr
    )
    assert printed is not None, decided.stderr
    again = await stack.sirt(
        "submit", "mdt-decision", referred, "--file", str(mdt), "--idempotency-key", printed[1]
    )
    assert (again.exit_code, again.stdout) == (0, decided.stdout)
    assert await updates_accepted(stack, referred, "record_mdt_decision") == 1

    booking = stack.tmp / "book-retry.json"
    booking.write_text(json.dumps({"scheduled_on": (today + timedelta(days=5)).isoformat()}))
    args = ("submit", "schedule-workup", referred, "--file", str(booking))
    first = await stack.sirt(*args, "--idempotency-key", "cli-book-1")
    retried = await stack.sirt(*args, "--idempotency-key", "cli-book-1")
    assert (first.exit_code, retried.exit_code) == (0, 0)
    assert retried.stdout == first.stdout
    assert await updates_accepted(stack, referred, "schedule_workup") == 1

    bad = await stack.sirt(*args, "--idempotency-key", "not a key")
    assert bad.exit_code == 2
    assert "--idempotency-key: must be 1-128 characters" in bad.stderr


async def test_refer_retried_with_its_key_starts_one_pathway(stack: Stack) -> None:
    path = stack.tmp / "referral-retry.json"
    path.write_text(payloads.referral(patient=another_patient()).model_dump_json())
    first = await stack.sirt("refer", "--file", str(path))
    assert first.exit_code == 0, first.output
    printed = re.search(r"Referral key: (\S+) ", first.stderr)
    assert printed is not None, first.stderr
    again = await stack.sirt("refer", "--file", str(path), "--referral-key", printed[1])
    assert again.exit_code == 0, again.output
    assert again.stdout.strip() == first.stdout.strip()
    pathway_id = first.stdout.strip()

    async def listed() -> list[Any]:
        return [wf async for wf in stack.client.list_workflows(f"WorkflowId='{pathway_id}'")]

    runs = await poll(listed, "the pathway in the visibility list", 10)
    assert len(runs) == 1  # one workflow run, not a second pathway

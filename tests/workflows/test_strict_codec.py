"""The engine is no side door: a payload not encrypted under a known key never reaches a pathway.

Measured before this codec: `temporal workflow update execute --name record_mdt_decision` with a
plain JSON payload moved a pathway to NOT_SUITABLE. These tests send the same Update from a real
client that has no codec (what the Temporal CLI and Web UI are) and from one with a key the
deployment never had, and check the pathway, its history and its read model did not move.
"""

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from core.codec import ENCODING, KEY_ID, KeyRing, encrypted_data_converter
from core.pathways import start_pathway, submit_step
from models.tables import PathwayRow
from models.vocab import Stage
from tests import payloads
from tests.conftest import TEST_KEY
from tests.journey import Journey, drive_to
from tests.readmodel import wait_for_stage
from worker import build_worker


def read_stage(engine: Engine, pathway_id: str) -> Stage | None:
    with Session(engine) as session:
        row = session.get(PathwayRow, pathway_id)
    return None if row is None else Stage(row.stage)


async def _client(pathways: Any, keys: KeyRing | bytes | None) -> Client:
    """Another client of the same server: without a codec when ``keys`` is None."""
    base: Client = pathways.client
    if keys is None:
        return await Client.connect(base.service_client.config.target_host)
    return await Client.connect(
        base.service_client.config.target_host, data_converter=encrypted_data_converter(keys)
    )


_WORKFLOW_TASK_EVENTS = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
}


async def _history_length(j: Journey) -> int:
    """Events that record something (the test server logs a workflow task per rejection)."""
    history = await j.handle.fetch_history()
    return sum(1 for e in history.events if e.event_type not in _WORKFLOW_TASK_EVENTS)


def _chain(err: BaseException | None) -> list[BaseException]:
    out = []
    while err is not None:
        out.append(err)
        err = err.__cause__
    return out


async def test_a_plain_update_from_outside_the_app_is_refused_and_the_pathway_is_unchanged(
    pathways: Any,
) -> None:
    j = await drive_to(pathways, Stage.MDT_REVIEW)
    events_before = await _history_length(j)
    raw = await _client(pathways, None)
    not_suitable = payloads.mdt(await j.today(), "not_suitable", reason="ECOG 3")

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await raw.get_workflow_handle(j.id).execute_update("record_mdt_decision", not_suitable)

    cause = refused.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "UnencryptedPayload"
    assert cause.non_retryable
    # The side-door caller cannot decrypt, so the reason is readable to it.
    assert cause.message.startswith("payload refused: it is not encrypted")
    assert (await j.live()).stage == Stage.MDT_REVIEW
    assert await _history_length(j) == events_before
    assert read_stage(pathways.engine, j.id) == Stage.MDT_REVIEW
    # The app's own client still works on the same pathway.
    state = await submit_step(pathways.client, j.id, "mdt-decision", not_suitable)
    assert state.stage == Stage.NOT_SUITABLE


async def test_an_update_under_a_key_the_deployment_never_had_is_refused(pathways: Any) -> None:
    j = await drive_to(pathways, Stage.MDT_REVIEW)
    events_before = await _history_length(j)
    stranger = await _client(pathways, KeyRing.single(bytes(32), "k-stranger"))
    not_suitable = payloads.mdt(await j.today(), "not_suitable", reason="ECOG 3")

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await submit_step(stranger, j.id, "mdt-decision", not_suitable)

    # Its reason is sealed under the deployment's key, which this caller does not have.
    innermost = _chain(refused.value)[-1]
    assert isinstance(innermost, ApplicationError)
    assert innermost.type == "UnknownKeyError"
    assert (await j.live()).stage == Stage.MDT_REVIEW
    assert await _history_length(j) == events_before


async def test_a_pathway_started_without_the_codec_fails_at_once_and_never_projects(
    pathways: Any,
) -> None:
    raw = await _client(pathways, None)
    handle = await raw.start_workflow(
        "PatientPathwayWorkflow",
        {"referral": payloads.referral().model_dump(mode="json")},
        id="pathway-side-door",
        task_queue=pathways.task_queue,
    )
    pathways.started.append(handle.id)

    history = await handle.fetch_history()
    async for event in handle.fetch_history_events(wait_new_event=True):
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
            failure = event.workflow_execution_failed_event_attributes.failure
            assert failure.application_failure_info.type == "UnencryptedPayload"
            assert failure.message.startswith("payload refused: it is not encrypted")
            break
    assert read_stage(pathways.engine, handle.id) is None
    assert history is not None


async def test_after_rotation_new_writes_use_the_current_key_and_old_history_still_reads(
    workflow_env: WorkflowEnvironment, engine: Engine
) -> None:
    """`sirt keys rotate` keeps the old key as retired: a worker and client with the rotated
    ring carry on a pathway whose history was written under the old key, and what they write
    from then on is under the new key id."""
    old = KeyRing.single(TEST_KEY)
    rotated = old.rotated()
    assert rotated.current != old.current == "default"
    old_client: Client = workflow_env.client
    rotated_client = await Client.connect(
        old_client.service_client.config.target_host,
        data_converter=encrypted_data_converter(rotated),
    )
    task_queue = f"tq-{uuid.uuid4()}"
    with ThreadPoolExecutor(max_workers=8) as executor:
        async with build_worker(rotated_client, engine, task_queue, executor):
            started = await start_pathway(
                old_client, payloads.referral(), task_queue=task_queue, centre="LEEDS"
            )
            # From here on the worker answers under the new key, which the old client lacks.
            handle = rotated_client.get_workflow_handle(started.id)
            await wait_for_stage(handle, Stage.MDT_REVIEW)
            today = (await workflow_env.get_current_time()).date()
            state = await submit_step(
                rotated_client, handle.id, "mdt-decision", payloads.mdt(today)
            )
            assert state.stage == Stage.WORKUP
            history = await handle.fetch_history()
            await handle.terminate("test ended")

    def key_ids(event_type: int) -> set[str]:
        found = set()
        for e in history.events:
            if e.event_type != event_type:
                continue
            if event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
                args = e.workflow_execution_started_event_attributes.input.payloads
            else:
                update = e.workflow_execution_update_accepted_event_attributes
                args = update.accepted_request.input.args.payloads
            assert all(p.metadata["encoding"] == ENCODING for p in args)
            found |= {p.metadata[KEY_ID].decode() for p in args}
        return found

    assert key_ids(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED) == {"default"}
    assert key_ids(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED) == {rotated.current}

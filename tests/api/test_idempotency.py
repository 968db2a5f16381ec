"""Retries are safe: a step, a form or a referral sent twice is applied once.

Each story sends the same request again, as a client does after a timeout, a double click or
a dropped connection, and checks what the pathway recorded, against the real time-skipping
Temporal server and the PostgreSQL read model.
"""

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import Session, func, select
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api.routes.pages import new_nonce
from core.db import get_engine
from core.pathways import ReferralKey, start_pathway, valid_idempotency_key
from models.tables import PathwayRow
from models.vocab import Role
from tests import payloads
from tests.api.conftest import API, BASE, Api, Login, csrf_from, login, make_app
from tests.api.test_pathways_api import bundle
from worker import build_worker

C, MDT, ADMIN = Role.COORDINATOR, Role.MDT_CLINICIAN, Role.ADMIN
KEY_RULE = "must be 1-128 characters: letters, digits, '.', '_', ':' or '-' (a UUID will do)"


async def send(
    api: Api, role: Role, path: str, body: Any, key: str | None = None
) -> httpx.Response:
    """POST as ``role``, with an Idempotency-Key when given."""
    headers = api.auth(role) | ({"Idempotency-Key": key} if key is not None else {})
    return await api.http.post(API + path, headers=headers, json=body)


async def outcomes(api: Api, pathway_id: str, kind: str) -> list[dict[str, Any]]:
    """The pathway's recorded outcomes of one kind, from its timeline."""
    detail = (await api.get(C, f"/pathways/{pathway_id}")).json()
    return [o for o in detail["outcomes"] if o["kind"] == kind]


def pathway_count(api: Api) -> int:
    with Session(api.engine) as session:
        return session.exec(select(func.count()).select_from(PathwayRow)).one()


async def in_workup(api: Api) -> str:
    pid = await api.refer()
    r = await api.step(MDT, pid, "mdt-decision", payloads.mdt(await api.today()))
    assert r.status_code == 200, r.text
    return pid


# ------------------------------------------------------------------------------ steps


async def test_booking_sent_twice_with_one_key_books_the_work_up_once(api: Api) -> None:
    pid = await in_workup(api)
    booking = {"scheduled_on": ((await api.today()) + timedelta(days=5)).isoformat()}
    first = await send(api, C, f"/pathways/{pid}/steps/schedule-workup", booking, "book-1")
    again = await send(api, C, f"/pathways/{pid}/steps/schedule-workup", booking, "book-1")
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json()
    assert len(await outcomes(api, pid, "schedule_workup")) == 1
    # A new key is a new request: a re-booking, recorded as a second booking.
    rebooked = await send(api, C, f"/pathways/{pid}/steps/schedule-workup", booking, "book-2")
    assert rebooked.status_code == 200
    assert rebooked.json()["seq"] > first.json()["seq"]
    assert len(await outcomes(api, pid, "schedule_workup")) == 2


async def test_mdt_decision_sent_twice_with_one_key_is_recorded_once_and_answered_alike(
    api: Api,
) -> None:
    pid = await api.refer()
    decision = payloads.mdt(await api.today())
    key = str(uuid.uuid4())
    first = await send(api, MDT, f"/pathways/{pid}/steps/mdt-decision", decision, key)
    again = await send(api, MDT, f"/pathways/{pid}/steps/mdt-decision", decision, key)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert first.json()["stage"] == "WORKUP"
    assert len(await outcomes(api, pid, "mdt_decision")) == 1
    audited = [(a.outcome, a.detail) for a in api.audit(pid, "step:mdt-decision")]
    assert audited == [("ok", None), ("ok", "repeat: the first answer")]


async def test_a_retry_after_the_pathway_ended_gets_the_first_answer(api: Api) -> None:
    pid = await api.refer()
    withdrawal = {"occurred_on": (await api.today()).isoformat(), "reason": "patient's choice"}
    first = await send(api, C, f"/pathways/{pid}/withdraw", withdrawal, "withdraw-1")
    assert first.status_code == 200, first.text
    assert first.json()["stage"] == "WITHDRAWN"
    # The workflow has completed: Temporal could no longer answer, the key's record does.
    again = await send(api, C, f"/pathways/{pid}/withdraw", withdrawal, "withdraw-1")
    assert (again.status_code, again.json()) == (200, first.json())


async def test_the_same_key_with_a_different_body_is_refused_naming_the_header(
    api: Api,
) -> None:
    pid = await in_workup(api)
    today = await api.today()
    path = f"/pathways/{pid}/steps/schedule-workup"
    booked = await send(
        api, C, path, {"scheduled_on": (today + timedelta(days=5)).isoformat()}, "k"
    )
    before = api.row(pid)
    other = await send(api, C, path, {"scheduled_on": (today + timedelta(days=6)).isoformat()}, "k")
    assert other.status_code == 422
    assert other.json()["detail"] == [
        {
            "loc": ["header", "Idempotency-Key"],
            "msg": "was already used for a different request on this pathway; use a new key "
            "(or reload the form) to record something else",
            "type": "idempotency_key_reused",
        }
    ]
    assert api.row(pid) == before
    assert len(await outcomes(api, pid, "schedule_workup")) == 1
    assert booked.status_code == 200
    last = api.audit(pid, "step:schedule-workup")[-1]
    assert (last.outcome, last.detail) == ("conflict", "Idempotency-Key reused")


async def test_a_refused_step_leaves_its_key_free_for_the_corrected_one(api: Api) -> None:
    pid = await api.refer()
    today = await api.today()
    path = f"/pathways/{pid}/steps/mdt-decision"
    future = payloads.mdt(today, meeting_date=(today + timedelta(days=3)).isoformat())
    refused = await send(api, MDT, path, future, "mdt-1")
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "meeting_date"]
    corrected = await send(api, MDT, path, payloads.mdt(today), "mdt-1")
    assert corrected.status_code == 200, corrected.text
    assert corrected.json()["stage"] == "WORKUP"


@pytest.mark.parametrize(
    "key",
    ["", "has space", "x" * 129, "slash/inside", "-leading-dash", "semi;colon"],
    ids=["empty", "space", "too-long", "slash", "leading-dash", "semicolon"],
)
async def test_a_malformed_key_is_a_422_naming_the_header(api: Api, key: str) -> None:
    pid = await api.refer()
    before = api.row(pid)
    r = await send(
        api, MDT, f"/pathways/{pid}/steps/mdt-decision", payloads.mdt(await api.today()), key
    )
    assert r.status_code == 422
    assert r.json()["detail"] == [
        {"loc": ["header", "Idempotency-Key"], "msg": KEY_RULE, "type": "idempotency_key"}
    ]
    assert api.row(pid) == before
    last = api.audit(pid, "step:mdt-decision")[-1]
    assert (last.outcome, last.detail) == ("invalid", "fields: header Idempotency-Key")


async def test_a_malformed_referral_key_is_a_422_and_refers_nobody(api: Api) -> None:
    before = pathway_count(api)
    body = payloads.referral().model_dump(mode="json")
    r = await send(api, C, "/pathways", body, "no spaces allowed")
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]
    assert pathway_count(api) == before


# --------------------------------------------------------------------------- referrals


async def test_a_referral_sent_twice_with_one_key_starts_one_pathway(api: Api) -> None:
    body = payloads.referral().model_dump(mode="json")
    before = pathway_count(api)
    first = await send(api, C, "/pathways", body, "referral-0001")
    again = await send(api, C, "/pathways", body, "referral-0001")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    pid = first.json()["pathway_id"]
    assert re.fullmatch(r"pathway-[0-9a-f-]{36}", pid)
    assert pathway_count(api) == before + 1
    audited = [(a.outcome, a.detail) for a in api.audit(pid, "pathway:refer")]
    assert audited == [("ok", "json"), ("ok", "json: repeat")]
    # Another sender's key never finds this pathway, even spelled the same (the same patient
    # again would be refused as a duplicate, so another patient).
    other = {**body, "patient": {**body["patient"], "nhs_number": payloads.fresh_nhs_number()}}
    admins = await send(api, ADMIN, "/pathways", other, "referral-0001")
    assert admins.status_code == 201
    assert admins.json()["pathway_id"] != pid
    assert pathway_count(api) == before + 2


async def test_the_referrers_reference_is_the_referral_key(api: Api) -> None:
    body = payloads.referral(referrer_reference="LTH/SIRT/2031/0042").model_dump(mode="json")
    first = await send(api, C, "/pathways", body)
    again = await send(api, C, "/pathways", body)
    assert (first.status_code, again.status_code) == (201, 201)
    pid = first.json()["pathway_id"]
    assert again.json()["pathway_id"] == pid
    assert "0042" not in pid  # the id is a keyed hash, never the reference itself
    changed = {**body, "grade": 3}
    refused = await send(api, C, "/pathways", changed)
    assert refused.status_code == 422
    assert refused.json()["detail"] == [
        {
            "loc": ["body", "referrer_reference"],
            "msg": f"was already used for a different referral (pathway {pid}); record "
            "changes on that pathway, or use a new key for a new referral",
            "type": "referral_key_reused",
        }
    ]


async def test_a_fhir_referral_sent_twice_starts_one_pathway(api: Api) -> None:
    resent = bundle(
        request={"identifier": [{"system": "https://trust.example/orders", "value": "ORD-77"}]}
    )
    before = pathway_count(api)
    first = await api.http.post(API + "/pathways/fhir", headers=api.auth(C), json=resent)
    again = await api.http.post(API + "/pathways/fhir", headers=api.auth(C), json=resent)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["pathway_id"] == first.json()["pathway_id"]
    assert pathway_count(api) == before + 1


async def test_a_keyed_referral_started_again_finds_the_first_run(pathways: Any) -> None:
    """Below the API's record of keys: Temporal itself never starts a second run."""
    key = ReferralKey(scope="user:1", kind="key", key="retry-me")
    start = {"task_queue": pathways.task_queue, "centre": "LEEDS", "referral_key": key}
    first = await start_pathway(pathways.client, payloads.referral(), **start)
    pathways.started.append(first.id)
    running = await start_pathway(pathways.client, payloads.referral(), **start)
    assert running.id == first.id
    assert await latest_run(pathways.client, first.id) == (first.result_run_id, "RUNNING")
    await first.terminate("the referral was withdrawn by the referrer")
    ended = await start_pathway(pathways.client, payloads.referral(), **start)
    assert ended.id == first.id
    # Not started afresh: the latest run is still the first one, terminated.
    assert await latest_run(pathways.client, first.id) == (first.result_run_id, "TERMINATED")
    other = await start_pathway(pathways.client, payloads.referral(), **{**start, "centre": "YORK"})
    pathways.started.append(other.id)
    assert other.id != first.id  # the centre is part of the key's scope


async def latest_run(client: Client, workflow_id: str) -> tuple[str | None, str]:
    """The latest run's id and status, read raw (the SDK's describe() also decodes search
    attributes, which the time-skipping server can hand back oddly for an ended run)."""
    described = await client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=client.namespace, execution=WorkflowExecution(workflow_id=workflow_id)
        )
    )
    info = described.workflow_execution_info
    return info.execution.run_id, WorkflowExecutionStatus(info.status).name


# ------------------------------------------------------------------------------- forms


@pytest.fixture
async def browser(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        yield http


NONCE = re.compile(r'name="idempotency_key" value="([^"]+)"')


def nonce_of(html: str) -> str:
    match = NONCE.search(html)
    assert match, "no idempotency nonce in the form"
    return match.group(1)


async def test_a_step_form_submitted_twice_records_once(
    api: Api, browser: httpx.AsyncClient, demo_users: dict[Role, Login]
) -> None:
    pid = await api.refer()
    await login(browser, demo_users[MDT])
    form = (await browser.get(f"/pathways/{pid}/steps/mdt-decision")).text
    data = {
        "csrf_token": csrf_from(form),
        "idempotency_key": nonce_of(form),
        "meeting_date": (await api.today()).isoformat(),
        "net_experienced_mdt": "on",
        "attendees": "NET oncologist\nIR",
        "ecog": "1",
        "decision": "proceed",
    }
    first = await browser.post(f"/pathways/{pid}/steps/mdt-decision", data=data)
    again = await browser.post(f"/pathways/{pid}/steps/mdt-decision", data=data)
    assert (first.status_code, again.status_code) == (303, 303)
    assert again.headers["location"] == first.headers["location"] == f"/pathways/{pid}"
    assert len(await outcomes(api, pid, "mdt_decision")) == 1
    # A form rendered afresh is a new request.
    fresh = (await browser.get(f"/pathways/{pid}/steps/mdt-decision")).text
    assert nonce_of(fresh) != data["idempotency_key"]


async def test_a_form_sent_back_with_other_values_is_refused(
    api: Api, browser: httpx.AsyncClient, demo_users: dict[Role, Login]
) -> None:
    pid = await in_workup(api)
    token = await login(browser, demo_users[C])
    url = f"/pathways/{pid}/steps/schedule-workup"
    nonce = nonce_of((await browser.get(url)).text)
    today = await api.today()
    data = {"csrf_token": token, "idempotency_key": nonce}
    when = (today + timedelta(days=4)).isoformat()
    assert (await browser.post(url, data={**data, "scheduled_on": when})).status_code == 303
    later = (today + timedelta(days=8)).isoformat()
    r = await browser.post(url, data={**data, "scheduled_on": later})  # the Back button
    assert r.status_code == 422
    assert (
        "This form was already used for a different request on this pathway; use a new key "
        "(or reload the form) to record something else" in r.text
    )
    assert nonce_of(r.text) == nonce
    assert len(await outcomes(api, pid, "schedule_workup")) == 1


async def test_the_referral_form_submitted_twice_starts_one_pathway(
    api: Api, browser: httpx.AsyncClient, demo_users: dict[Role, Login]
) -> None:
    await login(browser, demo_users[C])
    form = (await browser.get("/pathways/new")).text
    data = {
        "csrf_token": csrf_from(form),
        "idempotency_key": nonce_of(form),
        "patient.nhs_number": payloads.fresh_nhs_number(),
        "patient.family_name": "Doubleclick",
        "patient.given_name": "Dora",
        "patient.date_of_birth": "1960-05-01",
        "primary_site": "pancreas",
        "grade": "2",
        "ki67_pct": "5",
        "baseline_cga_ug_l": "300",
        "referrer": "Dr Who",
        "referring_trust": "Somewhere NHS Trust",
    }
    before = pathway_count(api)
    first = await browser.post("/pathways/new", data=data)
    again = await browser.post("/pathways/new", data=data)
    assert (first.status_code, again.status_code) == (303, 303)
    assert again.headers["location"] == first.headers["location"]
    assert pathway_count(api) == before + 1


# ------------------------------------------------------------------ a worker goes away


@asynccontextmanager
async def own_queue(
    env: WorkflowEnvironment, db_url: str, tokens: dict[Role, str], tmp: Path, **settings: Any
) -> AsyncIterator[tuple[Api, Callable[..., Worker]]]:
    """The app on a task queue of its own, and a way to build its workers: the test can stop
    and start them. ``settings`` are the app's (ApiSettings)."""
    queue = f"tq-{uuid.uuid4()}"
    engine = get_engine(db_url)
    app = make_app(env, db_url, queue, tmp, **settings)
    with ThreadPoolExecutor(max_workers=8) as executor:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
            yield (
                Api(http, tokens, app, env),
                partial(build_worker, env.client, engine, queue, executor),
            )


async def test_a_step_the_pathway_did_not_answer_may_have_applied_and_its_retry_applies_once(
    workflow_env: WorkflowEnvironment,
    postgres_url: str,
    tokens: dict[Role, str],
    tmp_path: Path,
) -> None:
    """The worker stops after the MDT decision; the booking sent meanwhile times out with a
    503 saying it may have been applied; once a worker is back the same key books once."""
    queue = own_queue(workflow_env, postgres_url, tokens, tmp_path, step_timeout_s=2)
    async with queue as (api, worker):
        # No workflow cache: its tasks never wait on a sticky queue once it has gone, so the
        # story does not depend on the server's sticky timeout.
        async with worker(max_cached_workflows=0):
            pid = await in_workup(api)
        booking = {"scheduled_on": ((await api.today()) + timedelta(days=5)).isoformat()}
        path = f"/pathways/{pid}/steps/schedule-workup"
        lost = await send(api, C, path, booking, "book-while-down")
        assert lost.status_code == 503
        assert lost.json()["detail"] == (
            "the pathway did not answer in time, so the step may have been applied: check "
            f"the pathway's timeline (/api/v1/pathways/{pid}, or the page /pathways/{pid}). "
            "Retrying with the same Idempotency-Key (book-while-down) is safe: the step is "
            "applied at most once."
        )
        last = api.audit(pid, "step:schedule-workup")[-1]
        assert (last.outcome, last.detail) == ("error", "timeout: may have applied")
        async with worker():
            # The client retries with the same key, as the 503 told it, until it answers.
            attempts = [await send(api, C, path, booking, "book-while-down")]
            while attempts[-1].status_code == 503 and len(attempts) < 10:
                attempts.append(await send(api, C, path, booking, "book-while-down"))
            retried = attempts[-1]
            assert retried.status_code == 200, retried.text
            again = await send(api, C, path, booking, "book-while-down")
            assert again.json() == retried.json()
            assert len(await outcomes(api, pid, "schedule_workup")) == 1
            await workflow_env.client.get_workflow_handle(pid).terminate("test ended")


async def test_a_step_sent_while_every_slot_waits_on_a_silent_pathway_is_not_sent(
    workflow_env: WorkflowEnvironment,
    postgres_url: str,
    tokens: dict[Role, str],
    tmp_path: Path,
) -> None:
    """The app waits on one step at a time here. A booking waits on a pathway whose worker
    has gone, holding that slot; a second booking meanwhile waits for the slot, then gets a
    503 saying nothing was recorded, and its key is free again: once a worker is back, the
    same key books once."""
    queue = own_queue(
        workflow_env,
        postgres_url,
        tokens,
        tmp_path,
        step_timeout_s=3,
        max_steps_in_flight=1,
        step_slot_wait_s=0.5,
    )
    async with queue as (api, worker):
        slots = api.ctx.step_slots
        async with worker(max_cached_workflows=0):
            silent, busy = await in_workup(api), await in_workup(api)
        booking = {"scheduled_on": ((await api.today()) + timedelta(days=5)).isoformat()}
        held = asyncio.create_task(
            send(api, C, f"/pathways/{silent}/steps/schedule-workup", booking, "held")
        )
        for _ in range(1000):  # until the held booking has the slot (at most 10 s)
            if slots.all_taken():
                break
            await asyncio.sleep(0.01)
        assert slots.all_taken()
        path = f"/pathways/{busy}/steps/schedule-workup"
        refused = await send(api, C, path, booking, "sent-while-busy")
        assert refused.status_code == 503
        assert refused.headers["retry-after"]
        assert refused.json()["detail"] == (
            "The service is busy, so the step was not sent and nothing was recorded; try "
            "again in a moment. Retrying with the same Idempotency-Key (sent-while-busy) "
            "is safe: the step is applied at most once."
        )
        last = api.audit(busy, "step:schedule-workup")[-1]
        assert (last.outcome, last.detail) == ("error", "busy: not sent")
        assert (await held).status_code == 503  # the silent pathway: may have applied
        assert not slots.all_taken()
        async with worker():
            booked = await send(api, C, path, booking, "sent-while-busy")
            assert booked.status_code == 200, booked.text
            assert len(await outcomes(api, busy, "schedule_workup")) == 1
            for pid in (silent, busy):
                await workflow_env.client.get_workflow_handle(pid).terminate("test ended")


async def test_a_referral_entered_twice_with_its_reference_finds_the_first_pathway(
    api: Api, browser: httpx.AsyncClient, demo_users: dict[Role, Login]
) -> None:
    await login(browser, demo_users[C])
    data = {
        "patient.nhs_number": payloads.fresh_nhs_number(),
        "patient.family_name": "Twiceentered",
        "patient.given_name": "Tom",
        "patient.date_of_birth": "1960-05-01",
        "primary_site": "midgut",
        "referrer_reference": "LTH-0099",
    }
    locations = []
    for _ in range(2):  # two forms, two nonces, one referral
        form = (await browser.get("/pathways/new")).text
        nonce = {"csrf_token": csrf_from(form), "idempotency_key": nonce_of(form)}
        r = await browser.post("/pathways/new", data={**data, **nonce})
        assert r.status_code == 303, r.text
        locations.append(r.headers["location"])
    assert locations[0] == locations[1]


def test_every_form_nonce_is_a_valid_idempotency_key() -> None:
    # A url-safe token may start with '-' or '_', which the key rule refuses: 1 form in 32.
    nonces = [new_nonce() for _ in range(2000)]
    assert all(valid_idempotency_key(n) for n in nonces)
    assert len(set(nonces)) == len(nonces)

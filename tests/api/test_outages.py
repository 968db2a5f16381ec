"""Outages of the read model and of Temporal get a clear 503, and the app recovers by itself.

The app reaches PostgreSQL and the Temporal test server through TCP proxies on loopback
(tests/tcpproxy.py); cutting a proxy closes every connection and refuses new ones.
"""

import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import make_url
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from api.outages import READ_MODEL_DOWN, RETRY_AFTER_S, TEMPORAL_DOWN
from api.service import retry_safely
from api.settings import ApiSettings
from core.config import Settings
from core.db import get_engine
from models.vocab import Role
from tests import payloads
from tests.api.conftest import API, BASE, Api
from tests.conftest import Pathways
from tests.tcpproxy import TcpProxy


@dataclass
class Outage:
    """The app behind proxies, an API helper and the proxies to cut."""

    api: Api
    http: httpx.AsyncClient
    database: TcpProxy
    temporal: TcpProxy


@pytest.fixture
def database_proxy(postgres_url: str) -> Iterator[TcpProxy]:
    url = make_url(postgres_url)
    with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        yield proxy


@pytest.fixture
def temporal_proxy(workflow_env: WorkflowEnvironment) -> Iterator[TcpProxy]:
    host, _, port = workflow_env.client.service_client.config.target_host.rpartition(":")
    with TcpProxy(host, int(port)) as proxy:
        yield proxy


@pytest.fixture
async def outage(
    pathways: Pathways,
    workflow_env: WorkflowEnvironment,
    postgres_url: str,
    tokens: dict[Role, str],
    database_proxy: TcpProxy,
    temporal_proxy: TcpProxy,
    tmp_path: Path,
) -> AsyncIterator[Outage]:
    """The app wired through both proxies; the worker talks to both directly."""
    db_url = make_url(postgres_url).set(port=database_proxy.port)
    proxied_url = db_url.render_as_string(hide_password=False)
    client = await Client.connect(
        temporal_proxy.address,
        namespace=workflow_env.client.namespace,
        data_converter=workflow_env.client.data_converter,
    )
    settings = Settings(
        database_url=proxied_url,
        task_queue=pathways.task_queue,
        centre="LEEDS",
        data_dir=tmp_path / "data",
    )
    app = create_app(
        settings,
        client=client,
        api_settings=ApiSettings(session_secret="test-session-secret", refer_wait_s=10),
        clock=workflow_env.get_current_time,
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        yield Outage(Api(http, tokens, app, workflow_env), http, database_proxy, temporal_proxy)
    get_engine(proxied_url).dispose()


def assert_unavailable_json(r: httpx.Response, detail: str) -> None:
    assert r.status_code == 503, r.text
    assert r.json() == {"detail": detail}
    assert "temporarily unavailable" in detail
    assert r.headers["retry-after"] == str(RETRY_AFTER_S)


def assert_unavailable_page(r: httpx.Response, detail: str) -> None:
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("text/html")
    assert detail in r.text
    assert "Traceback" not in r.text
    assert r.headers["retry-after"] == str(RETRY_AFTER_S)


def assert_logged_without_traceback(caplog: pytest.LogCaptureFixture, what: str) -> None:
    records = [r for r in caplog.records if r.name == "sirt.api"]
    assert any(what in r.getMessage() for r in records), [r.getMessage() for r in records]
    assert all(r.exc_info is None and r.levelno < logging.ERROR for r in records)


async def test_read_model_outage_is_a_503_then_recovers(
    outage: Outage, caplog: pytest.LogCaptureFixture
) -> None:
    api, auth = outage.api, outage.api.auth(Role.COORDINATOR)
    assert (await api.get(Role.COORDINATOR, "/pathways")).status_code == 200
    assert (await outage.http.get("/pathways", headers=auth)).status_code == 200

    caplog.set_level(logging.WARNING, logger="sirt.api")
    outage.database.cut()
    assert_unavailable_json(await api.get(Role.COORDINATOR, "/pathways"), READ_MODEL_DOWN)
    assert_unavailable_page(await outage.http.get("/pathways", headers=auth), READ_MODEL_DOWN)
    assert_unavailable_json(await outage.http.get("/readyz"), READ_MODEL_DOWN)
    assert (await outage.http.get("/healthz")).status_code == 200
    assert_logged_without_traceback(caplog, "read model unavailable")

    outage.database.restore()
    assert (await api.get(Role.COORDINATOR, "/pathways")).status_code == 200
    assert (await outage.http.get("/pathways", headers=auth)).status_code == 200
    assert (await outage.http.get("/readyz")).status_code == 200


async def test_temporal_outage_is_a_503_then_recovers(
    outage: Outage, pathways: Pathways, caplog: pytest.LogCaptureFixture
) -> None:
    api = outage.api
    pathway_id = await api.refer()
    pathways.started.append(pathway_id)
    today = await api.today()
    step_url = f"{API}/pathways/{pathway_id}/steps/mdt-decision"
    page_url = f"/pathways/{pathway_id}/steps/mdt-decision"
    # A valid "not suitable" decision as the form sends it (bearer auth needs no CSRF token).
    form = {
        "meeting_date": today.isoformat(),
        "net_experienced_mdt": "on",
        "attendees": "NET oncologist\nIR",
        "ecog": "1",
        "decision": "not_suitable",
        "reason": "liver-dominant disease not confirmed",
    }
    mdt = Role.MDT_CLINICIAN

    caplog.set_level(logging.WARNING, logger="sirt.api")
    outage.temporal.cut()
    keyed = {**api.auth(mdt), "Idempotency-Key": "mdt-outage-1"}
    r = await outage.http.post(step_url, headers=keyed, json=payloads.mdt(today))
    assert_unavailable_json(r, f"{TEMPORAL_DOWN} {retry_safely('mdt-outage-1')}")
    # The form comes back with what was typed, and says why.
    r = await outage.http.post(page_url, headers=api.auth(mdt), data=form)
    assert_unavailable_page(r, TEMPORAL_DOWN)
    assert "liver-dominant disease not confirmed" in r.text
    assert_unavailable_json(await outage.http.get("/readyz"), TEMPORAL_DOWN)
    assert_logged_without_traceback(caplog, "Temporal unavailable")
    assert api.row(pathway_id)["stage"] == "MDT_REVIEW"

    outage.temporal.restore()
    assert (await outage.http.get("/readyz")).status_code == 200
    r = await outage.http.post(step_url, headers=api.auth(mdt), json=payloads.mdt(today))
    assert r.status_code == 200, r.text
    assert r.json()["stage"] == "WORKUP"

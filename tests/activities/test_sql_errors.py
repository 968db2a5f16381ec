"""A failing read-model write never carries the patient's data into Temporal.

Measured before: a re-raised SQL error carried `[parameters: ('<patient name>',)]` into the
activity failure, which Temporal stored unencrypted. Here PostgreSQL refuses the patient row
(a CHECK the test adds, whose DETAIL quotes the whole failing row). The projection is a local
activity, so its failed attempts are retried in the worker: the error it raised (as logged) is
encoded as Temporal would store it and read both raw and decrypted with the deployment's key,
and the pathway's history and the log line carry no identifier either.
"""

import asyncio
import logging
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from sqlalchemy import Engine
from temporalio.api.failure.v1 import Failure
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from core.db import get_engine, migrate
from core.pathways import start_pathway
from tests import payloads
from tests.conftest import PG_ADMIN
from worker import build_worker


@pytest.fixture
def refusing_engine() -> Iterator[Engine]:
    """A read model of this test's own whose patient table refuses our test patient."""
    name = f"sirt_test_{uuid.uuid4().hex[:12]}"
    admin = psycopg.connect(PG_ADMIN, autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + "/" + name
    migrate(url)
    engine = get_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "ALTER TABLE patient ADD CONSTRAINT refuse_test CHECK (family_name <> 'Testpatient')"
        )
    yield engine
    engine.dispose()
    admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    admin.close()


class _Failures(logging.Handler):
    """The projection's failed attempts, as the SDK logs them (with the error raised)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("Completing activity as failed"):
            self.records.append(record)


@pytest.fixture
def failures() -> Iterator[_Failures]:
    handler = _Failures()
    logger = logging.getLogger("temporalio.activity")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


async def _first_failure(failures: _Failures) -> logging.LogRecord:
    for _ in range(400):
        if failures.records:
            return failures.records[0]
        await asyncio.sleep(0.05)
    raise AssertionError("the projection never failed")


def _texts(failure: Failure) -> str:
    """Everything a failure carries as text, its causes included."""
    parts = [failure.message, failure.stack_trace, str(failure.encoded_attributes)]
    if failure.HasField("cause"):
        parts.append(_texts(failure.cause))
    return "\n".join(parts)


async def test_a_refused_patient_row_reports_no_name_or_nhs_number(
    workflow_env: WorkflowEnvironment, refusing_engine: Engine, failures: _Failures
) -> None:
    client = workflow_env.client
    task_queue = f"tq-{uuid.uuid4()}"
    with ThreadPoolExecutor(max_workers=8) as executor:
        async with build_worker(client, refusing_engine, task_queue, executor):
            handle = await start_pathway(
                client, payloads.referral(), task_queue=task_queue, centre="LEEDS"
            )
            record = await _first_failure(failures)
            history = (await handle.fetch_history()).to_json()
            await handle.terminate("test ended")

    assert record.exc_info is not None
    error = record.exc_info[1]
    assert error is not None
    # The projection is a local activity: a failed attempt is retried by the worker and not
    # stored, so what would be stored is what the SDK encodes from the error it logged.
    stored = Failure()
    await client.data_converter.encode_failure(error, stored)
    decoded = await client.data_converter.decode_failure(stored)
    logged = logging.Formatter().format(record)
    for seen in (_texts(stored), f"{decoded}\n{decoded.__cause__}", logged, history):
        for identifier in ("Testpatient", "Zebedee", "9434765919", "1958-03-14"):
            assert identifier not in seen
    assert isinstance(decoded, ApplicationError)
    assert decoded.message == (
        "read-model write failed: CheckViolation (SQLSTATE 23514); values withheld"
    )
    assert decoded.__cause__ is None

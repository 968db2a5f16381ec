"""A failing read-model write never carries the patient's data into Temporal.

Measured before: a re-raised SQL error carried `[parameters: ('<patient name>',)]` into the
activity failure, which Temporal stored unencrypted. Here PostgreSQL refuses the patient row
(a CHECK the test adds, whose DETAIL quotes the whole failing row), and the failure Temporal
keeps is read both as stored (raw) and decrypted with the deployment's key.
"""

import asyncio
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from sqlalchemy import Engine
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.failure.v1 import Failure
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client
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


async def _last_activity_failure(client: Client, workflow_id: str) -> Failure:
    request = DescribeWorkflowExecutionRequest(
        namespace=client.namespace, execution=WorkflowExecution(workflow_id=workflow_id)
    )
    for _ in range(400):
        described = await client.workflow_service.describe_workflow_execution(request)
        for pending in described.pending_activities:
            if pending.HasField("last_failure"):
                return pending.last_failure
        await asyncio.sleep(0.05)
    raise AssertionError("the projection activity never failed")


def _texts(failure: Failure) -> str:
    """Everything a failure carries as text, its causes included."""
    parts = [failure.message, failure.stack_trace, str(failure.encoded_attributes)]
    if failure.HasField("cause"):
        parts.append(_texts(failure.cause))
    return "\n".join(parts)


async def test_a_refused_patient_row_reports_no_name_or_nhs_number(
    workflow_env: WorkflowEnvironment, refusing_engine: Engine
) -> None:
    client = workflow_env.client
    task_queue = f"tq-{uuid.uuid4()}"
    with ThreadPoolExecutor(max_workers=8) as executor:
        async with build_worker(client, refusing_engine, task_queue, executor):
            handle = await start_pathway(
                client, payloads.referral(), task_queue=task_queue, centre="LEEDS"
            )
            stored = await _last_activity_failure(client, handle.id)
            await handle.terminate("test ended")

    decoded = await client.data_converter.decode_failure(stored)
    for seen in (_texts(stored), f"{decoded}\n{decoded.__cause__}"):
        for identifier in ("Testpatient", "Zebedee", "9434765919", "1958-03-14"):
            assert identifier not in seen
    assert isinstance(decoded, ApplicationError)
    assert decoded.message == (
        "read-model write failed: CheckViolation (SQLSTATE 23514); values withheld"
    )
    assert decoded.__cause__ is None

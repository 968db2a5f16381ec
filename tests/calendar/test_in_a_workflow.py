"""The calendar is deterministic enough for the workflow sandbox."""

import uuid

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from core.calendar import CalendarConfig, Nation
from tests.calendar.sandboxed import CalendarProbeWorkflow


async def test_the_calendar_runs_inside_a_sandboxed_workflow(
    workflow_env: WorkflowEnvironment,
) -> None:
    queue = f"calendar-{uuid.uuid4()}"
    async with Worker(workflow_env.client, task_queue=queue, workflows=[CalendarProbeWorkflow]):
        result = await workflow_env.client.execute_workflow(
            CalendarProbeWorkflow.run,
            CalendarConfig(nation=Nation.ENGLAND),
            id=f"calendar-probe-{uuid.uuid4()}",
            task_queue=queue,
        )
    assert result == ["2026-12-29", "2026-12-29T08:00:00+00:00", "True"]

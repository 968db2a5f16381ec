"""The bare-Temporal baseline: the same Updates, each running one trivial activity.

    python -c 'import asyncio; from bench.bare import main; asyncio.run(main())'

Its workflow does what the pathway's Temporal skeleton does and nothing else: wait, take an
Update, run an activity, answer. The throughput benchmark runs it beside the pathway worker,
with the same worker sizing, codec, garbage-collector settings and concurrency, to show what
the product itself costs.
"""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.worker import PollerBehaviorSimpleMaximum, Worker

# As the pathway's module does: the worker's own imports are not re-run in the sandbox.
with workflow.unsafe.imports_passed_through():
    from core.config import get_settings
    from core.gc_tuning import tune_for_worker
    from core.temporal import connect


@activity.defn
def record(step: int) -> int:
    """The trivial activity: what a projection would be if it wrote nothing."""
    return step


@workflow.defn
class BareWorkflow:
    """Waits for Updates until told to finish."""

    def __init__(self) -> None:
        self._done = False

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self._done)

    @workflow.update
    async def step(self, n: int) -> int:
        return await workflow.execute_activity(
            record, n, start_to_close_timeout=timedelta(seconds=30)
        )

    @workflow.signal
    def finish(self) -> None:
        self._done = True


async def main() -> None:
    """Run a bare worker with the product's worker sizing until killed."""
    settings = get_settings()
    sizing = settings.worker_sizing
    client = await connect(settings)
    with ThreadPoolExecutor(max_workers=sizing.max_concurrent_activities) as executor:
        worker = Worker(
            client,
            task_queue=settings.task_queue,
            workflows=[BareWorkflow],
            activities=[record],
            activity_executor=executor,
            max_cached_workflows=sizing.max_cached_workflows,
            max_concurrent_workflow_tasks=sizing.max_concurrent_workflow_tasks,
            max_concurrent_activities=sizing.max_concurrent_activities,
            workflow_task_poller_behavior=PollerBehaviorSimpleMaximum(sizing.workflow_task_pollers),
            activity_task_poller_behavior=PollerBehaviorSimpleMaximum(sizing.activity_task_pollers),
        )
        tune_for_worker()  # as the pathway worker does
        await worker.run()

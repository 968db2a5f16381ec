"""The Temporal worker: runs pathway workflows and their activities."""

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.worker import PollerBehaviorSimpleMaximum, Worker

from activities.errors import SqlErrorScrubber
from activities.projection import ProjectionActivities
from core.config import WorkerSizing, get_settings
from core.db import get_engine, migrate
from core.gc_tuning import tune_for_worker
from core.temporal import connect, ensure_search_attributes
from registry.activity import RegistryActivities
from registry.config import RegistrySettings
from workflows.pathway import PatientPathwayWorkflow

log = logging.getLogger("sirt.worker")


def build_worker(
    client: Client,
    engine: Engine,
    task_queue: str,
    executor: ThreadPoolExecutor,
    *,
    registry_settings: RegistrySettings | None = None,
    sizing: WorkerSizing | None = None,
    max_cached_workflows: int | None = None,
) -> Worker:
    """A worker for the pathway workflow; blocking DB activities run on ``executor``.

    Registry submission is off unless SIRT_REGISTRY_URL (or ``registry_settings``) sets a URL.
    ``sizing`` defaults to WorkerSizing's defaults; ``max_cached_workflows`` overrides its cache
    (0 turns the sticky cache off). ``executor`` should have a thread per activity slot.
    """
    sizing = sizing or WorkerSizing()
    if max_cached_workflows is not None:
        slots = sizing.max_concurrent_workflow_tasks
        if max_cached_workflows:
            slots = min(slots, max(2, max_cached_workflows))
        sizing = WorkerSizing(
            **{
                **sizing.model_dump(),
                "max_cached_workflows": max_cached_workflows,
                "max_concurrent_workflow_tasks": slots,
            }
        )
    projection = ProjectionActivities(engine)
    registry = RegistryActivities(engine, registry_settings)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[PatientPathwayWorkflow],
        activities=[projection.project_pathway, registry.submit_registry_record],
        activity_executor=executor,
        max_cached_workflows=sizing.max_cached_workflows,
        max_concurrent_workflow_tasks=sizing.max_concurrent_workflow_tasks,
        max_concurrent_activities=sizing.max_concurrent_activities,
        # The projection is a local activity: it shares the activity threads and slot count.
        max_concurrent_local_activities=sizing.max_concurrent_activities,
        workflow_task_poller_behavior=PollerBehaviorSimpleMaximum(sizing.workflow_task_pollers),
        activity_task_poller_behavior=PollerBehaviorSimpleMaximum(sizing.activity_task_pollers),
        interceptors=[SqlErrorScrubber()],
    )


async def run_worker() -> None:
    """Connect with the process settings and run until cancelled."""
    settings = get_settings()
    url = settings.resolved_database_url
    migrate(url)
    # Workers share the deployment's key; only `sirt dev` creates one (core.codec.load_keyring).
    client = await connect(settings)
    added = await ensure_search_attributes(client)
    if added:
        log.info("registered search attributes %s", ", ".join(added))
    sizing = settings.worker_sizing
    with ThreadPoolExecutor(max_workers=sizing.max_concurrent_activities) as executor:
        worker = build_worker(client, get_engine(url), settings.task_queue, executor, sizing=sizing)
        log.info("worker polling task queue %s (%s)", settings.task_queue, sizing)
        tune_for_worker()
        await worker.run()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    asyncio.run(run_worker())

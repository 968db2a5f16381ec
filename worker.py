"""The Temporal worker: runs pathway workflows and their activities."""

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.worker import Worker

from activities.errors import SqlErrorScrubber
from activities.projection import ProjectionActivities
from core.config import get_settings
from core.db import get_engine, migrate
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
    max_cached_workflows: int = 1000,
) -> Worker:
    """A worker for the pathway workflow; blocking DB activities run on ``executor``.

    Registry submission is off unless SIRT_REGISTRY_URL (or ``registry_settings``) sets a URL.
    ``max_cached_workflows`` is the SDK's sticky cache (its default, 1000); 0 turns it off.
    """
    projection = ProjectionActivities(engine)
    registry = RegistryActivities(engine, registry_settings)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[PatientPathwayWorkflow],
        activities=[projection.project_pathway, registry.submit_registry_record],
        activity_executor=executor,
        max_concurrent_activities=8,
        max_cached_workflows=max_cached_workflows,
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
    with ThreadPoolExecutor(max_workers=8) as executor:
        worker = build_worker(client, get_engine(url), settings.task_queue, executor)
        log.info("worker polling task queue %s", settings.task_queue)
        await worker.run()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    asyncio.run(run_worker())

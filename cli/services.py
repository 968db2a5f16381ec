"""Long-running processes for a real deployment, one per container (see docker-compose.yml).

`sirt dev` runs all of them in one process; these run them apart, against a real cluster.
"""

import asyncio
import logging
import signal

import typer

from core.config import Settings
from core.db import migrate as migrate_schema
from core.temporal import connect
from notifications.config import load_notify_config
from notifications.delivery import run_delivery
from scheduler.service import run_scheduler
from worker import run_worker


def _until_terminated(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


def migrate() -> None:
    """Bring the read-model schema up to date (run once before the other processes)."""
    s = Settings()
    migrate_schema(s.resolved_database_url)
    typer.echo("read model is up to date")


def worker() -> None:
    """Run a Temporal worker for the pathway workflows (scale these out)."""
    logging.basicConfig(level=logging.INFO)

    async def main() -> None:
        stop = asyncio.Event()
        _until_terminated(stop)
        task = asyncio.create_task(run_worker())
        await stop.wait()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(main())


def scheduler() -> None:
    """Run the scheduler (one active instance; others wait) and notification delivery."""
    logging.basicConfig(level=logging.INFO)

    async def main() -> None:
        s = Settings()
        client = await connect(s)
        stop = asyncio.Event()
        _until_terminated(stop)
        await asyncio.gather(
            run_scheduler(s, client, stop), run_delivery(s, load_notify_config(), stop)
        )

    asyncio.run(main())

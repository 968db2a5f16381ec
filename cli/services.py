"""Long-running processes for a real deployment, one per container (see docker-compose.yml).

`sirt dev` runs all of them in one process; these run them apart, against a real cluster.
"""

import asyncio
import logging
import signal
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from sqlalchemy import make_url, text
from sqlalchemy.exc import SQLAlchemyError
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.service import RPCError

from api.settings import ApiSettings, load_or_create_secret
from cli.errors import CliError
from core.codec import KeyConfigError, load_keyring
from core.config import Settings
from core.db import get_engine
from core.db import migrate as migrate_schema
from core.devserver import port_is_open
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
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            # The worker could not start or stopped on its own (Temporal or the database
            # down at start): exit non-zero so the supervisor restarts it, never idle on.
            stopping.cancel()
            task.result()
            raise CliError("the worker stopped")
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


def ready(
    timeout: Annotated[
        float, typer.Option(min=0.1, help="Seconds each dependency may take to answer.")
    ] = 5.0,
) -> None:
    """Exit 0 if the read model and Temporal both answer, 1 saying which does not.

    The container health check of the worker and the scheduler (docker-compose.yml): their
    process being alive is their container running; this says whether they can work.
    """
    s = Settings()

    def ping_database() -> None:
        engine = get_engine(s.resolved_database_url)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    async def ping_temporal() -> None:
        client = await asyncio.wait_for(connect(s), timeout)
        await client.workflow_service.get_system_info(
            GetSystemInfoRequest(), retry=False, timeout=timedelta(seconds=timeout)
        )

    try:
        ping_database()
    except SQLAlchemyError as exc:
        raise CliError(f"not ready: the read model does not answer ({_first_line(exc)})") from None
    try:
        asyncio.run(ping_temporal())
    except KeyConfigError as exc:
        raise CliError(f"not ready: {exc}") from None
    except (RuntimeError, RPCError, TimeoutError) as exc:
        raise CliError(
            f"not ready: Temporal at {s.temporal_address} does not answer ({_first_line(exc)})"
        ) from None
    typer.echo("ready: the read model and Temporal answer")


def _first_line(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(cause).__name__


def _exit_cleanly(_sig: int, _frame: object) -> None:
    raise SystemExit(0)


def web(
    host: Annotated[
        str, typer.Option(help="Address to listen on (0.0.0.0 to serve other hosts).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port to listen on.")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            min=1, help="Server processes, each with its own Temporal client and database pool."
        ),
    ] = 1,
) -> None:
    """Serve the web app and JSON API (scale with --workers or more containers).

    Settings as for the worker: SIRT_TEMPORAL_ADDRESS, DATABASE_URL, SIRT_ENCRYPTION_KEY.

    While Temporal or the database is down it answers 503 and recovers when they return.

    SIGTERM or Ctrl-C stops it once the requests in flight are answered.
    """
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    s = Settings()
    try:
        # Checked here, not on the first request: a web app without the key could not
        # decode a single pathway.
        load_keyring(s.encryption_key, s.encryption_retired_keys, s.resolved_key_file)
    except KeyConfigError as exc:
        raise CliError(str(exc)) from None
    url = make_url(s.resolved_database_url)
    sqlite_file = url.database if url.drivername.startswith("sqlite") else None
    if sqlite_file not in (None, "", ":memory:") and not Path(str(sqlite_file)).exists():
        raise CliError(
            f"no read model at {url.database}: run `sirt migrate` (or `sirt dev`) first, "
            "or set SIRT_DATA_DIR / DATABASE_URL to where it is"
        )
    if port_is_open(host if host not in ("0.0.0.0", "") else "127.0.0.1", port):
        raise CliError(f"port {port} on {host} is already in use; choose another with --port")
    # Every worker process signs session cookies with the same secret: create the key file
    # once, here, before they start (each would otherwise race to create its own).
    load_or_create_secret(ApiSettings().session_secret, s.data_dir / "session.key")
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then re-raises the signal to kill the
    # process with it. A stop that was asked for is a clean exit (0), as `docker stop` and
    # process supervisors expect; this handler also covers a signal before uvicorn's own.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _exit_cleanly)
    # An import string and a factory, so that each worker process builds its own app (and its
    # own Temporal client and connection pool) from the same environment.
    uvicorn.run(
        "api.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        timeout_graceful_shutdown=10,
        # A worker process imports the whole app before it can answer the supervisor's
        # health check; uvicorn's 5 s would kill it on a busy host, again and again.
        timeout_worker_healthcheck=60,
        log_level="info",
    )

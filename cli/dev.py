"""`sirt dev`: migrations, the Temporal dev server and a worker, in one process."""

import asyncio
import contextlib
import logging
import os
import signal
from asyncio import FIRST_COMPLETED
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import make_url
from temporalio.client import Client
from temporalio.worker import Worker

from api.main import serve as serve_web
from api.seed import seed_demo_users
from cli.runtime import run_async
from core.config import Settings
from core.db import get_engine, migrate
from core.devserver import DevServer, DevServerError, port_is_open
from core.temporal import connect
from intake.run import run_hl7_listener
from notifications.config import load_notify_config
from notifications.delivery import run_delivery
from outbound.publish import run_configured
from scheduler.service import run_scheduler
from worker import build_worker

Echo = Callable[[str], None]

EXAMPLE_REFERRAL = (
    "sirt refer --as coordinator --primary-site midgut --grade 2 --ki67 8 --cga 420 \\\n"
    '      --referrer "Dr A Referrer" --trust "Example NHS Foundation Trust"\n'
    "      (prompts for the patient's NHS number, names and date of birth, then your password)"
)


def safe_url(url: str) -> str:
    """A database URL with any password hidden, fit to print."""
    return make_url(url).render_as_string(hide_password=True)


def banner(settings: Settings, server: DevServer) -> str:
    """What the user needs once everything is up."""
    return "\n".join(
        [
            "SIRT Pathway is running.",
            f"  Temporal Web UI  {settings.codec_endpoint.removesuffix('/codec')}"
            f"{settings.temporal_ui_public_path}/ (through the web app: sign in as ops or admin)",
            f"  Temporal server  {server.address} (namespace {server.namespace})",
            f"  Temporal state   {server.db_file} (log: {server.log_file})",
            f"  Task queue       {settings.task_queue}",
            f"  Read model       {safe_url(settings.resolved_database_url)}",
            "",
            "Refer a patient (in another terminal, from this directory):",
            f"  {EXAMPLE_REFERRAL}",
            "Then: sirt list, sirt status PATHWAY_ID, sirt submit STEP PATHWAY_ID --file F.json",
            "",
            "Press Ctrl-C to stop.",
        ]
    )


async def serve(settings: Settings, echo: Echo) -> None:
    """Run everything until SIGINT/SIGTERM (or cancellation): worker first, then the server."""
    task = asyncio.current_task()
    assert task is not None
    _cancel_on_signals(task, echo)
    try:
        await _serve(settings, echo)
    except asyncio.CancelledError:
        echo("Stopped.")


def check_ports_free(settings: Settings) -> None:
    """Refuse to start when the web app's or the MLLP listener's port is taken.

    Checked before anything starts: both run as background tasks beside the worker, where a
    port in use would only be logged while `sirt dev` carried on without them.
    """
    for port, what, setting in (
        (settings.web_port, "web app", "SIRT_WEB_PORT"),
        (settings.hl7_port, "HL7v2 (MLLP) listener", "SIRT_HL7_PORT"),
    ):
        if port_is_open("127.0.0.1", port):
            raise DevServerError(
                f"Port {port} on 127.0.0.1 is already in use, so the {what} cannot listen "
                f"there; stop what uses it or choose another port with {setting}."
            )


async def _serve(settings: Settings, echo: Echo) -> None:
    check_ports_free(settings)
    url = settings.resolved_database_url
    echo(f"Migrating the read model at {safe_url(url)} ...")
    await asyncio.to_thread(migrate, url)
    server = DevServer.from_settings(settings)
    echo(f"Starting the Temporal dev server on {server.address} ...")
    await server.start()
    if server.stopped_leftover is not None:
        echo(
            f"Stopped a Temporal dev server an earlier `sirt dev` left running "
            f"(pid {server.stopped_leftover}, recorded in {server.pid_file})."
        )
    try:
        client = await connect(settings, create_key=True)
        sizing = settings.worker_sizing
        with ThreadPoolExecutor(
            max_workers=sizing.max_concurrent_activities, thread_name_prefix="sirt-activity"
        ) as executor:
            worker = build_worker(
                client, get_engine(url), settings.task_queue, executor, sizing=sizing
            )
            stop = asyncio.Event()
            # Delivery and the scheduler run beside the worker; the scheduler takes its
            # single-instance lock, so a second `sirt dev` would wait as a standby.
            logins = await asyncio.to_thread(seed_demo_users, get_engine(url))
            background = [
                asyncio.create_task(
                    run_delivery(settings, load_notify_config(), stop), name="sirt-delivery"
                ),
                asyncio.create_task(run_scheduler(settings, client, stop), name="sirt-scheduler"),
                asyncio.create_task(
                    _web_app(settings, client, settings.web_port, stop), name="sirt-web"
                ),
                asyncio.create_task(
                    run_hl7_listener(settings, client, "127.0.0.1", settings.hl7_port, stop),
                    name="sirt-hl7",
                ),
                asyncio.create_task(run_configured(settings, stop), name="sirt-events"),
            ]

            def started() -> None:
                echo(banner(settings, server))
                echo(f"Web app:       http://127.0.0.1:{settings.web_port}  (API docs at /docs)")
                echo(f"HL7v2 (MLLP):  127.0.0.1:{settings.hl7_port}  (sirt hl7 unmatched)")
                echo("Demo logins (embedded demo only):")
                for username, password, role in logins:
                    echo(f"  {username:<12} {password:<20} {role}")

            try:
                await _run_worker(worker, server, started)
            finally:
                stop.set()
                await asyncio.gather(*background, return_exceptions=True)
    finally:
        echo("Stopping the Temporal dev server ...")
        server.stop()


async def _web_app(settings: Settings, client: Client, port: int, stop: asyncio.Event) -> None:
    """Serve the web app until ``stop``; a port in use stops everything with its message."""
    web = asyncio.create_task(serve_web(settings, client, "127.0.0.1", port))
    await asyncio.wait([web, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
    web.cancel()
    await asyncio.gather(web, return_exceptions=True)


async def _run_worker(worker: Worker, server: DevServer, started: Callable[[], None]) -> None:
    """Run the worker until cancelled, or until it or the dev server dies; shut it down."""
    worker_task = asyncio.create_task(worker.run(), name="sirt-worker")
    watch_task = asyncio.create_task(_watch(server), name="sirt-devserver-watch")
    started()
    try:
        done, _ = await asyncio.wait({worker_task, watch_task}, return_when=FIRST_COMPLETED)
        for finished in done:
            finished.result()  # the dead server's (or worker's) error
        raise DevServerError("The worker stopped unexpectedly; see the log above.")
    finally:
        watch_task.cancel()
        if not worker_task.done():
            await worker.shutdown()
        with contextlib.suppress(asyncio.CancelledError):
            await worker_task


async def _watch(server: DevServer) -> None:
    # Notice a dead server instead of idling next to it.
    while (code := server.poll()) is None:
        await asyncio.sleep(1)
    raise DevServerError(
        f"The Temporal dev server exited unexpectedly (code {code}).\n"
        f"Last lines of {server.log_file}:\n{server.log_tail()}"
    )


def _cancel_on_signals(task: asyncio.Task[None], echo: Echo) -> None:
    loop = asyncio.get_running_loop()
    stopping = False

    def on_signal() -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            echo("\nShutting down ...")
            task.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        # Outside the main thread (tests) this fails, and the caller cancels instead.
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, on_signal)


def secure_data_dir(data_dir: Path) -> None:
    """The data folder 0700 and everything in it 0600 (0700 for folders), and this process's
    new files private too (umask 077): it holds the payload key, the session key, the read
    model with patients' identities, and Temporal's state."""
    os.umask(0o077)
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o700)
    for path in data_dir.rglob("*"):
        if path.is_symlink():
            continue
        path.chmod(0o700 if path.is_dir() else 0o600)


def run_dev(settings: Settings, echo: Echo) -> None:
    """Blocking entry point for the `dev` command."""
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    secure_data_dir(settings.data_dir)
    run_async(serve(settings, echo))

"""`sirt events`: publish pathway CloudEvents to the configured webhook and broker."""

import asyncio
import logging
import signal

import typer

from cli.errors import handle_errors
from cli.runtime import run_async
from core.config import Settings
from outbound.publish import run_configured

events_app = typer.Typer(
    name="events",
    help="Pathway events out (CloudEvents): the publisher.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@events_app.command()
@handle_errors
def publish() -> None:
    """Send queued events to SIRT_EVENTS_WEBHOOK_URL and SIRT_EVENTS_NATS_URL until stopped."""
    logging.basicConfig(level=logging.INFO)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        typer.echo("publishing pathway events", err=True)
        await run_configured(Settings(), stop)

    run_async(main())

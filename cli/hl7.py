"""`sirt hl7`: the HL7v2 (MLLP) listener and the reconciliation worklist of unmatched messages."""

import asyncio
import logging
import os
from typing import Annotated

import typer
from sqlalchemy import Engine

from api import audit
from api.accounts import Principal
from api.audit import Outcome
from cli.errors import EXIT_INVALID, CliError, handle_errors
from cli.identity import TOKEN_ENV, cli_principal
from cli.output import table
from cli.runtime import run_async
from core.config import Settings
from core.db import get_engine
from core.temporal import connect
from intake import store
from intake.run import intake_for, run_hl7_listener
from intake.service import NotReconcilable

# Changes to pathways run as a named, audited user, as in the API.
AS_USER = typer.Option("--as", help="Your login (prompts for the password); or set SIRT_TOKEN.")

hl7_app = typer.Typer(
    name="hl7",
    help="HL7v2 intake: listen over MLLP; list, link or discard unmatched messages.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@hl7_app.command()
@handle_errors
def listen(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(help="MLLP port (default SIRT_HL7_PORT).")] = None,
) -> None:
    """Take HL7v2 ORU^R01 results and ADT^A03/A08 deaths over MLLP until Ctrl-C."""
    logging.basicConfig(level=logging.INFO)
    settings = Settings()
    listen_port = port if port is not None else settings.hl7_port

    async def main() -> None:
        client = await connect(settings)
        stop = asyncio.Event()
        ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(
            run_hl7_listener(settings, client, host, listen_port, stop, ready)
        )
        typer.echo(f"HL7v2 MLLP listener on {host}:{await ready}")
        await task

    run_async(main())


def _reconciler(as_user: str | None) -> tuple[Settings, Engine, Principal]:
    """The settings, the read model and the signed-in caller allowed to reconcile."""
    settings = Settings()
    engine = get_engine(settings.resolved_database_url)
    who = cli_principal(engine, as_user, os.environ.get(TOKEN_ENV), "intake:reconcile")
    return settings, engine, who


@hl7_app.command()
@handle_errors
def unmatched(as_user: Annotated[str | None, AS_USER] = None) -> None:
    """Messages for no known open pathway, waiting for a coordinator (oldest first)."""
    _, engine, _ = _reconciler(as_user)
    rows = store.unmatched(engine)
    lines = [(r.control_id, r.message_type, str(r.received_at), r.ack_text or "") for r in rows]
    typer.echo(table(("CONTROL ID", "TYPE", "RECEIVED", "WHY"), lines))


@hl7_app.command()
@handle_errors
def link(
    control_id: Annotated[str, typer.Argument(help="MSH-10 of the unmatched message.")],
    pathway_id: Annotated[str, typer.Argument(help="The pathway it belongs to.")],
    as_user: Annotated[str | None, AS_USER] = None,
) -> None:
    """Apply an unmatched message to the pathway it belongs to (as you: --as or SIRT_TOKEN)."""
    settings, engine, who = _reconciler(as_user)

    async def main() -> None:
        intake = intake_for(settings, await connect(settings))
        try:
            outcome = await intake.link("hl7v2", control_id, pathway_id, who.username)
        except NotReconcilable as exc:
            audit.record(engine, who, "intake:reconcile", Outcome.CONFLICT, detail="cli link")
            raise CliError(str(exc), EXIT_INVALID) from None
        if outcome.code != "AA":
            audit.record(engine, who, "intake:reconcile", Outcome.REFUSED, detail="cli link")
            raise CliError(outcome.text, EXIT_INVALID)
        audit.record(
            engine, who, "intake:reconcile", Outcome.OK, pathway_id=pathway_id, detail="cli link"
        )
        typer.echo(f"{control_id}: {outcome.text} on {pathway_id}")

    run_async(main())


@hl7_app.command()
@handle_errors
def discard(
    control_id: Annotated[str, typer.Argument(help="MSH-10 of the unmatched message.")],
    note: Annotated[str, typer.Option(help="Why it belongs to no pathway here.")],
    as_user: Annotated[str | None, AS_USER] = None,
) -> None:
    """Set an unmatched message aside (it is kept, marked discarded); as you."""
    settings, engine, who = _reconciler(as_user)

    async def main() -> None:
        intake = intake_for(settings, await connect(settings))
        try:
            await intake.discard("hl7v2", control_id, who.username, note)
        except NotReconcilable as exc:
            audit.record(engine, who, "intake:reconcile", Outcome.CONFLICT, detail="cli discard")
            raise CliError(str(exc), EXIT_INVALID) from None
        audit.record(engine, who, "intake:reconcile", Outcome.OK, detail="cli discard")
        typer.echo(f"{control_id}: discarded")

    run_async(main())

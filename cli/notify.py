"""`sirt notify`: acknowledge escalations, list and retry dead letters."""

import os
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Engine, make_url

from api import audit
from api.audit import Outcome
from cli.errors import EXIT_INVALID, CliError, handle_errors
from cli.identity import EXIT_DENIED, TOKEN_ENV, cli_principal
from cli.output import table, to_json
from core import clock
from core.config import Settings
from core.db import get_engine
from notifications.ack import AckError, AckNotYours, acknowledge
from notifications.store import count_dead_letters, dead_letters, retry_dead_letters

notify_app = typer.Typer(
    name="notify",
    help="Notifications: acknowledge an escalation, list and retry dead letters.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _engine() -> Engine:
    """The read model; a missing SQLite file is an error, not a new empty database."""
    url = Settings().resolved_database_url
    parsed = make_url(url)
    database = parsed.database or ""
    is_file = parsed.drivername.startswith("sqlite") and database not in ("", ":memory:")
    if is_file and not Path(database).exists():
        raise CliError(f"no read model at {database}: start `sirt dev` first")
    return get_engine(url)


@notify_app.command()
@handle_errors
def ack(
    pathway_id: Annotated[str, typer.Argument(help="The pathway id.")],
    task_id: Annotated[str, typer.Argument(help="The overdue task's id (see `sirt status`).")],
    as_user: Annotated[
        str | None,
        typer.Option("--as", help="Your login (prompts for the password); or set SIRT_TOKEN."),
    ] = None,
    by: Annotated[
        str | None,
        typer.Option(
            "--by",
            help="Who is acknowledging, if not you: an escalation recipient without a login "
            "(pathway lead, service manager) on whose behalf you enter it.",
        ),
    ] = None,
    note: Annotated[str | None, typer.Option(help="What is being done about it.")] = None,
) -> None:
    """Acknowledge an overdue task: its escalation ladder stops (recorded for the audit).

    Runs as a named user, like the API: the task's own role, or a role its escalation went to,
    may acknowledge it. For an escalation recipient without a login, give their name with
    --by: the acknowledgement records both names.
    """
    engine = _engine()
    who = cli_principal(engine, as_user, os.environ.get(TOKEN_ENV), "task:ack")
    acknowledger = who.username if not by else f"{by.strip()} (entered by {who.username})"
    detail = "cli" if not by else "cli, on behalf of an escalation recipient"
    try:
        done = acknowledge(engine, pathway_id, task_id, acknowledger, note, role=who.role)
    except AckNotYours as exc:
        audit.record(engine, who, "task:ack", Outcome.DENIED, pathway_id=pathway_id, detail=detail)
        raise CliError(str(exc), EXIT_DENIED) from None
    except AckError as exc:
        audit.record(engine, who, "task:ack", Outcome.CONFLICT, detail=detail)
        raise CliError(str(exc), EXIT_INVALID) from None
    audit.record(engine, who, "task:ack", Outcome.OK, pathway_id=done.pathway_id, detail=detail)
    typer.echo(
        f"Acknowledged {done.task_id} on {done.pathway_id} (due {done.due_on}) by {done.by}; "
        "no further overdue, escalation or timeout messages for this due date."
    )


@notify_app.command("dead-letters")
@handle_errors
def list_dead_letters(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    limit: Annotated[int, typer.Option(help="Show at most this many.")] = 200,
) -> None:
    """List messages a channel gave up on, most recent first."""
    engine = _engine()
    found = dead_letters(engine, limit)
    if as_json:
        typer.echo(to_json([letter.__dict__ for letter in found]))
        return
    total = count_dead_letters(engine)
    if not found:
        typer.echo("No dead letters.")
        return
    rows = [
        (d.key, d.channel, d.kind, d.recipient_role, d.attempts, d.updated_at, d.last_error)
        for d in found
    ]
    typer.echo(table(("KEY", "CHANNEL", "KIND", "ROLE", "TRIES", "LAST TRY", "ERROR"), rows))
    typer.echo(f"{total} dead letter(s). Retry with: sirt notify retry KEY (or --all)")


@notify_app.command()
@handle_errors
def retry(
    keys: Annotated[list[str] | None, typer.Argument(help="Dead letter keys to retry.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Retry every dead letter.")] = False,
    channel: Annotated[str | None, typer.Option(help="Only on this channel.")] = None,
) -> None:
    """Queue dead letters for delivery again, with a fresh attempt budget."""
    if not keys and not all_:
        raise CliError("give one or more KEYs, or --all", EXIT_INVALID)
    if keys and all_:
        raise CliError("give KEYs or --all, not both", EXIT_INVALID)
    n = retry_dead_letters(_engine(), clock.now(), None if all_ else keys, channel)
    if n == 0:
        raise CliError("no dead letter matches")
    typer.echo(f"{n} dead letter(s) queued for delivery again.")

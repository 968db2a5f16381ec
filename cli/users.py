"""`sirt users`: add people who use the web app, and issue API tokens for integrations."""

from typing import Annotated

import typer
from sqlalchemy import Engine

from api.accounts import (
    DEFAULT_TOKEN_DAYS,
    AccountError,
    create_user,
    deactivate_user,
    issue_token,
    list_tokens,
    list_users,
    revoke_token,
    set_password,
    unlock,
)
from api.permissions import APP_ROLES
from cli.errors import EXIT_INVALID, CliError, handle_errors
from core.config import Settings
from core.db import get_engine, migrate

app = typer.Typer(
    help="Users of the web app and their API tokens.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ROLE_NAMES = ", ".join(APP_ROLES)


def _engine() -> Engine:
    settings = Settings()
    url = settings.resolved_database_url
    # The users' tables may be newer than the read model someone last started.
    migrate(url)
    return get_engine(url)


@app.command("add")
@handle_errors
def add(
    username: Annotated[str, typer.Argument(help="Login name (stored in lower case).")],
    role: Annotated[str, typer.Option("--role", "-r", help=f"One of: {ROLE_NAMES}.")],
    name: Annotated[str | None, typer.Option("--name", help="Display name.")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    no_password: Annotated[
        bool, typer.Option("--no-password", help="An API-token-only user (no page login).")
    ] = False,
    replace: Annotated[
        bool, typer.Option("--replace", help="Update the user if it exists (role, name, password).")
    ] = False,
) -> None:
    """Add a user. The password is prompted for (never an argument, so it stays out of `ps`)."""
    password: str | None = None
    if password_stdin:
        password = typer.get_text_stream("stdin").readline().rstrip("\n")
    elif not no_password:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = create_user(_engine(), username, role, password, name, replace=replace)
    except AccountError as exc:
        raise CliError(str(exc), EXIT_INVALID) from None
    typer.echo(f"user {user.username} ({user.role}) saved")


@app.command("token")
@handle_errors
def token(
    username: Annotated[str, typer.Argument(help="Whose token.")],
    name: Annotated[str, typer.Option("--name", help="What the token is for.")] = "api",
    days: Annotated[
        int, typer.Option("--days", min=1, help="Days until it expires.")
    ] = DEFAULT_TOKEN_DAYS,
) -> None:
    """Issue a bearer token for the API. It is printed once; only its hash is kept."""
    try:
        value = issue_token(_engine(), username, name, days=days)
    except AccountError as exc:
        raise CliError(str(exc), EXIT_INVALID) from None
    typer.echo(value)
    typer.echo(
        "Store it now: it cannot be shown again. Use it as `Authorization: Bearer <token>`.",
        err=True,
    )


@app.command("list")
@handle_errors
def list_cmd() -> None:
    """List users and their roles."""
    for username, role, active in list_users(_engine()):
        typer.echo(f"{username:<24} {role:<28} {'active' if active else 'disabled'}")


def _fmt(value: object) -> str:
    return "-" if value is None else str(value)


@app.command("tokens")
@handle_errors
def tokens_cmd(username: Annotated[str, typer.Argument(help="Whose tokens.")]) -> None:
    """List a user's tokens: id, name, created, expires, last used, revoked (never the token)."""
    try:
        found = list_tokens(_engine(), username)
    except AccountError as exc:
        raise CliError(str(exc), EXIT_INVALID) from None
    for t in found:
        typer.echo(
            f"{t.id}\t{t.name}\tcreated {t.created_at}\texpires {_fmt(t.expires_at)}\t"
            f"last used {_fmt(t.last_used_at)}\trevoked {_fmt(t.revoked_at)}"
        )


@app.command("revoke-token")
@handle_errors
def revoke_token_cmd(
    username: Annotated[str, typer.Argument(help="Whose token.")],
    token_id: Annotated[
        int | None, typer.Option("--id", help="The token's id (`sirt users tokens`).")
    ] = None,
    all_tokens: Annotated[bool, typer.Option("--all", help="Revoke all of them.")] = False,
) -> None:
    """Revoke a user's API token at once (one by --id, or --all)."""
    if (token_id is None) == (not all_tokens):
        raise CliError("give either --id N or --all", EXIT_INVALID)
    try:
        count = revoke_token(_engine(), username, token_id)
    except AccountError as exc:
        raise CliError(str(exc), EXIT_INVALID) from None
    typer.echo(f"revoked {count} token(s) of {username}")


@app.command("deactivate")
@handle_errors
def deactivate(username: Annotated[str, typer.Argument(help="Who.")]) -> None:
    """Disable a user: signed out everywhere and every token revoked, at once."""
    try:
        sessions = deactivate_user(_engine(), username)
    except AccountError as exc:
        raise CliError(str(exc), EXIT_INVALID) from None
    typer.echo(f"user {username} deactivated; {sessions} session(s) ended")


@app.command("password")
@handle_errors
def password_cmd(
    username: Annotated[str, typer.Argument(help="Whose password.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Set a new password (prompted); the user is signed out everywhere."""
    if password_stdin:
        password = typer.get_text_stream("stdin").readline().rstrip("\n")
    else:
        password = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    try:
        set_password(_engine(), username, password)
    except AccountError as exc:
        raise CliError(str(exc), EXIT_INVALID) from None
    typer.echo(f"password of {username} changed; signed out everywhere")


@app.command("unlock")
@handle_errors
def unlock_cmd(username: Annotated[str, typer.Argument(help="Whose sign-in.")]) -> None:
    """Lift a sign-in lockout of this username, from every address."""
    count = unlock(_engine(), username)
    typer.echo(f"{username}: {count} lockout record(s) cleared")

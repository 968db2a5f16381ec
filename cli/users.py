"""`sirt users`: add people who use the web app, and issue API tokens for integrations."""

from typing import Annotated

import typer
from sqlalchemy import Engine

from api.accounts import AccountError, create_user, issue_token, list_users
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
) -> None:
    """Issue a bearer token for the API. It is printed once; only its hash is kept."""
    try:
        value = issue_token(_engine(), username, name)
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

"""Who runs a changing CLI command: a named user, checked and audited like the API.

A token comes from SIRT_TOKEN (an environment variable, never an argument: arguments are
visible to everyone in `ps`); `--as NAME` prompts for NAME's password instead. The role must
be allowed the action in api.permissions.MATRIX, exactly as on the API.
"""

from datetime import timedelta

import typer
from sqlalchemy import Engine

from api import audit
from api.accounts import LoginOutcome, Principal, authenticate, principal_for_token
from api.audit import Outcome
from api.permissions import allowed
from api.settings import ApiSettings
from cli.errors import CliError

TOKEN_ENV = "SIRT_TOKEN"
EXIT_DENIED = 3
# Failed CLI sign-ins are throttled like the web's, under this client address.
CLI_CLIENT = "cli"


def cli_principal(engine: Engine, as_user: str | None, token: str | None, action: str) -> Principal:
    """The caller, signed in and allowed ``action``; a refusal is audited and exits."""
    if token:
        principal = principal_for_token(engine, token)
        if principal is None:
            raise CliError(
                f"{TOKEN_ENV}: the token is not valid (expired or revoked?)", EXIT_DENIED
            )
    elif as_user:
        password = typer.prompt(f"Password for {as_user}", hide_input=True, err=True)
        api = ApiSettings()
        outcome, found = authenticate(
            engine,
            as_user,
            password,
            max_failures=api.lockout_failures,
            lockout=timedelta(minutes=api.lockout_minutes),
            client=CLI_CLIENT,
        )
        if outcome != LoginOutcome.OK or found is None:
            audit.record(
                engine,
                as_user.strip().lower() or "-",
                "session:login",
                Outcome.LOCKED if outcome == LoginOutcome.LOCKED else Outcome.FAILED,
                detail="cli",
            )
            raise CliError(f"--as {as_user}: the username or password is not right", EXIT_DENIED)
        principal = found
    else:
        raise CliError(
            f"say who you are: --as YOUR_LOGIN (prompts for the password) or {TOKEN_ENV}=<token>",
            EXIT_DENIED,
        )
    if not allowed(principal.role, action):
        audit.record(engine, principal, action, Outcome.DENIED, detail="cli")
        raise CliError(f"your role ({principal.role}) may not do this ({action})", EXIT_DENIED)
    return principal

"""One error-handling wrapper for every command: messages and exit codes, never tracebacks."""

import functools
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import typer
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode

from core.devserver import DevServerError
from models.labels import label_path, readable, split_field_message

P = ParamSpec("P")
R = TypeVar("R")

EXIT_FAILURE = 1
EXIT_INVALID = 2  # bad input: the same code the CLI uses for usage errors
NOT_RUNNING_HINT = "is `sirt dev` running?"


class CliError(Exception):
    """A failure the user can act on: printed as is, with an exit code."""

    def __init__(self, message: str, code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def validation_lines(exc: ValidationError) -> list[str]:
    """Each pydantic error as `Field in words: message` (the label map the pages and the API
    use), with the field's path as typed in a payload file in brackets."""
    lines = []
    for err in exc.errors():
        loc = list(err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        path, rest = split_field_message(message)
        if path and not loc:  # a model-level validator names its field in its message
            loc, message = list(path), rest
        where = ".".join(str(p) for p in loc)
        lines.append(f"{label_path(loc)} ({where}): {message}" if loc else f"payload: {message}")
    return lines


def describe(exc: BaseException) -> tuple[str, int]:
    """The message and exit code for an exception escaping a command."""
    match exc:
        case CliError():
            return exc.message, exc.code
        case ValidationError():
            return "invalid input:\n" + "\n".join(validation_lines(exc)), EXIT_INVALID
        case WorkflowUpdateFailedError():
            cause = exc.cause
            message = getattr(cause, "message", None) or str(cause or exc)
            return f"refused: {readable(message)}", EXIT_FAILURE
        case WorkflowUpdateRPCTimeoutOrCancelledError():
            return f"no worker handled the step in time: {NOT_RUNNING_HINT}", EXIT_FAILURE
        case RPCError() if exc.status == RPCStatusCode.NOT_FOUND:
            return f"not found: {exc.message}", EXIT_FAILURE
        case RPCError() if exc.status in (
            RPCStatusCode.UNAVAILABLE,
            RPCStatusCode.DEADLINE_EXCEEDED,
        ):
            return f"Temporal did not answer ({exc.message}): {NOT_RUNNING_HINT}", EXIT_FAILURE
        case RPCError():
            return f"Temporal refused the request: {exc.message}", EXIT_FAILURE
        case DevServerError():
            return str(exc), EXIT_FAILURE
        case SQLAlchemyError():
            orig = getattr(exc, "orig", None) or exc
            return f"cannot read the read model: {orig}", EXIT_FAILURE
        case KeyboardInterrupt():
            return "interrupted", 130
        case _:
            return f"unexpected error: {type(exc).__name__}: {exc}", EXIT_FAILURE


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn any exception from a command into a message on stderr and a non-zero exit.

    Set SIRT_DEBUG=1 to see the traceback instead.
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except (Exception, KeyboardInterrupt) as exc:
            if os.environ.get("SIRT_DEBUG"):
                raise
            message, code = describe(exc)
            typer.echo(f"Error: {message}", err=True)
            raise typer.Exit(code) from None

    return wrapper


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON object from a file (`-` for stdin), with clear errors for the usual mistakes."""
    name = "standard input" if str(path) == "-" else str(path)
    try:
        text = typer.get_text_stream("stdin").read() if str(path) == "-" else path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CliError(f"cannot read {name}: {reason}", EXIT_INVALID) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(
            f"{name} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
            EXIT_INVALID,
        ) from None
    if not isinstance(data, Mapping):
        raise CliError(f"{name} must hold a JSON object, not {type(data).__name__}", EXIT_INVALID)
    return dict(data)

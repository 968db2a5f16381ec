"""Activity errors that carry no patient data into Temporal.

A failed activity's message, type and cause chain are stored in the pathway's history (sealed
by the failure converter, but still shown to anyone holding the key, such as ops through the
codec endpoint). A database error quotes the values it choked on: SQLAlchemy appends the
statement's parameters, PostgreSQL's DETAIL repeats the failing row. So an activity's SQL
error is replaced by one naming only its class and SQLSTATE, with no cause attached.
"""

from typing import Any

from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)


def scrubbed(exc: SQLAlchemyError) -> ApplicationError:
    """The error to report instead of ``exc``: retryable, as the original was."""
    orig = exc.orig if isinstance(exc, DBAPIError) else None
    code = getattr(orig, "sqlstate", None)
    kind = type(orig).__name__ if orig is not None else type(exc).__name__
    where = f" (SQLSTATE {code})" if code else ""
    return ApplicationError(
        f"read-model write failed: {kind}{where}; values withheld",
        type=f"Sql{type(exc).__name__}",
    )


class _ScrubbingActivityInbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        try:
            return await super().execute_activity(input)
        except SQLAlchemyError as exc:
            # `from None`: a cause would be serialised with its message.
            raise scrubbed(exc) from None


class SqlErrorScrubber(Interceptor):
    """Worker interceptor: every activity's SQL error is reported without its values."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ScrubbingActivityInbound(next)

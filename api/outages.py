"""Which failures mean "a dependency is down", and what the app says about them.

When the read model or Temporal cannot be reached, every route answers 503 with a
Retry-After header (JSON for the API, the error page for pages), logs one line without a
traceback, and works again as soon as the dependency is back: the connection pool pre-pings
and reconnects, and the Temporal client redials on its next call.
"""

from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from temporalio.service import RPCError, RPCStatusCode

RETRY_AFTER_S = 5
READ_MODEL_DOWN = "The read model (database) is temporarily unavailable; try again in a moment."
TEMPORAL_DOWN = "The workflow engine (Temporal) is temporarily unavailable; try again in a moment."
# Connection-level failures only: a ProgrammingError or IntegrityError is a bug, not an outage.
READ_MODEL_ERRORS: tuple[type[Exception], ...] = (
    OperationalError,
    InterfaceError,
    DisconnectionError,
    PoolTimeoutError,
)
# A lazily connected client that cannot dial raises RuntimeError with this prefix.
_CONNECT_FAILED = "Failed client connect"


def temporal_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says Temporal could not be reached (not that it refused a request)."""
    if isinstance(exc, RPCError):
        return exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED)
    return isinstance(exc, RuntimeError) and str(exc).startswith(_CONNECT_FAILED)


def retry_after() -> dict[str, str]:
    """The header telling clients (and proxies) when to try again."""
    return {"Retry-After": str(RETRY_AFTER_S)}

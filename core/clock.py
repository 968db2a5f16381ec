"""The one clock for everything outside the workflows.

Scheduler jobs, delivery, digests, reconciliation, snapshots, reports, the API's "today" and
the CLI all ask this module what time it is, never ``datetime.now()`` themselves: in
production it reads the system time, and a test pins it (``pinned``), so no result depends on
the day the suite happens to run. Workflows keep ``workflow.now()``: Temporal owns their time.

"Today" is the centre's calendar date (Europe/London by default), not UTC's: between midnight
and 01:00 in British Summer Time the two differ, and a due date or a "not in the future" check
must agree with the workflow, which counts days in the centre's time zone.
"""

import contextlib
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, tzinfo

from core.calendar import DEFAULT_TIMEZONE, zone

Clock = Callable[[], datetime]
"""A source of aware (UTC) instants."""


def system_time() -> datetime:
    """The machine's time: the production clock, and what APScheduler's own timers run on."""
    return datetime.now(UTC)


_current: Clock = system_time


def now() -> datetime:
    """The current instant by the process's clock (aware, UTC)."""
    return _current().astimezone(UTC)


def today(tz: str | tzinfo = DEFAULT_TIMEZONE) -> date:
    """Today's date in the centre's time zone by the process's clock."""
    return local_date(now(), tz)


def local_date(at: datetime, tz: str | tzinfo = DEFAULT_TIMEZONE) -> date:
    """The calendar date at an instant in a time zone (naive instants are UTC)."""
    aware = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    return aware.astimezone(zone(tz) if isinstance(tz, str) else tz).date()


def _swap(clock: Clock) -> Clock:
    """Replace the process's clock; returns the one it replaced."""
    global _current
    previous, _current = _current, clock
    return previous


@contextlib.contextmanager
def pinned(at: datetime | Clock) -> Iterator[Clock]:
    """Within the block the clock reads ``at`` (an instant, or a clock of the caller's)."""
    if isinstance(at, datetime):
        if at.tzinfo is None:
            raise ValueError("a pinned instant needs a time zone")
        instant = at.astimezone(UTC)

        def clock() -> datetime:
            return instant

    else:
        clock = at
    previous = _swap(clock)
    try:
        yield clock
    finally:
        _swap(previous)

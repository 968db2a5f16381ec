"""The instants the suite runs at: one pinned "now" for the run, and the edges that matter.

Nothing in the suite reads the machine's date. Each test runs at ``suite_now()`` (from
``SIRT_TEST_NOW``, a Wednesday by default) on its own time-skipping server moved to that
instant, with ``core.clock`` pinned to it; a date-sensitive test is also run at the edges
below. They lie years ahead because the time-skipping server's clock only moves forward
from the machine's; when the machine's date passes them, move them on a year or two.
"""

import os
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")
ENV = "SIRT_TEST_NOW"


def london(text: str) -> datetime:
    """A local Europe/London wall-clock time (ISO, no offset) as a UTC instant."""
    return datetime.fromisoformat(text).replace(tzinfo=LONDON).astimezone(UTC)


# A plain working Wednesday in summer time, well away from bank holidays and clock changes.
DEFAULT = london("2031-06-04T10:00")

EDGES: dict[str, datetime] = {
    "wednesday": DEFAULT,
    "saturday": london("2031-06-07T10:00"),
    "christmas-day": london("2031-12-25T10:00"),  # a Thursday bank holiday
    # Easter Monday is 14 April 2031: the Tuesday is the first working day after it.
    "after-easter-monday": london("2031-04-15T10:00"),
    # Clocks go forward at 01:00 GMT on Sunday 30 March 2031 and back at 01:00 GMT on
    # Sunday 26 October 2031; these are half an hour before each change.
    "spring-forward": datetime(2031, 3, 30, 0, 30, tzinfo=UTC),
    "fall-back": datetime(2031, 10, 26, 0, 30, tzinfo=UTC),
    # A minute either side of local midnight into a weekend in summer time: at 00:01 on
    # Saturday UTC's date is still Friday's.
    "23:59": london("2031-06-06T23:59"),
    "00:01": london("2031-06-07T00:01"),
}


def suite_now() -> datetime:
    """The run's pinned instant: ``SIRT_TEST_NOW`` (ISO with an offset, or an edge's name)."""
    text = os.environ.get(ENV, "").strip()
    if not text:
        return DEFAULT
    if text in EDGES:
        return EDGES[text]
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"{ENV}={text!r}: give an ISO instant or one of {list(EDGES)}") from exc
    if value.tzinfo is None:
        raise ValueError(f"{ENV}={text!r}: give the offset too (Z or +01:00)")
    return value.astimezone(UTC)

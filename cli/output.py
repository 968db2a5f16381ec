"""Plain-text tables and JSON for the terminal: ids never wrap, output is easy to grep."""

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any


def fmt(value: object) -> str:
    """A cell: dates as ISO, times to the minute in UTC, None as a dash."""
    match value:
        case None:
            return "-"
        case bool():
            return "yes" if value else "no"
        case datetime():
            # Stored in UTC; SQLite hands them back naive.
            utc = value.astimezone(UTC) if value.tzinfo else value
            return utc.strftime("%Y-%m-%d %H:%M UTC")
        case date():
            return value.isoformat()
        case _:
            return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], indent: str = "") -> str:
    """Left-aligned columns separated by two spaces."""
    cells = [[fmt(c) for c in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    lines = [list(headers), *cells]
    return "\n".join(
        indent + "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def to_json(data: Any) -> str:
    """Pretty JSON; dates and times as ISO strings."""
    return json.dumps(data, indent=2, default=_default)


def _default(value: object) -> str:
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)

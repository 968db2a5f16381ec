"""CSV cells a spreadsheet will not run as formulas (CSV/formula injection).

A cell starting with =, +, -, @, a tab or a carriage return is a formula to Excel and
LibreOffice; a leading apostrophe makes it text. Numbers stay numbers: a negative number is
written as a number, not quoted, so figures still sum.
"""

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """``value`` as written to a CSV cell, neutralised if it is text a sheet would evaluate
    (a number written as text, such as "-3.5", is left alone)."""
    if isinstance(value, str) and value.startswith(_TRIGGERS) and not _is_number(value):
        return "'" + value
    return value


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return text.strip() == text


def write_rows(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A whole CSV document with every cell made safe."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([safe_cell(h) for h in header])
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return out.getvalue()

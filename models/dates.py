"""Dates as people type them in the UK: 14/03/1958, 14-3-1958, 14.03.1958 or 1958-03-14.

Day first, always (an NHS form never means 03/14). The parser is shared by the referral's date
of birth and the pathway search, so a date typed one way is found the same way.
"""

import re
from datetime import date
from typing import Any

_UK = re.compile(r"^\s*(\d{1,2})[/.\- ](\d{1,2})[/.\- ](\d{4})\s*$")
_ISO = re.compile(r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})\s*$")


def parse_uk_date(text: str) -> date:
    """A date from ``dd/mm/yyyy`` (also with '-', '.' or ' ') or ``yyyy-mm-dd``;
    ValueError saying which forms are accepted otherwise."""
    if m := _UK.match(text):
        day, month, year = (int(g) for g in m.groups())
    elif m := _ISO.match(text):
        year, month, day = (int(g) for g in m.groups())
    else:
        raise ValueError("enter a date as day/month/year, for example 14/03/1958")
    try:
        return date(year, month, day)
    except ValueError:
        raise ValueError(f"{day:02d}/{month:02d}/{year} is not a real date") from None


def uk_date(value: Any) -> Any:
    """A pydantic before-validator: strings are read as UK dates, anything else passes on."""
    if isinstance(value, str) and value.strip():
        return parse_uk_date(value)
    return value

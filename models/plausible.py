"""Checks every payload shares: dates a clinical record can hold, text without control codes.

A date far outside living memory breaks the working-day calendar (holidays are known for
2000-2100) and a NUL byte cannot be stored by PostgreSQL: refused at the edge, naming the field.
"""

import re
from datetime import date
from typing import Any, Self

from pydantic import model_validator

from clinical.plausibility import PlausibleNumbers

EARLIEST = date(1900, 1, 1)
LATEST = date(2099, 12, 31)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _problem(value: Any) -> str | None:
    if isinstance(value, date) and not EARLIEST <= value <= LATEST:
        return f"{value} is outside {EARLIEST.year}-{LATEST.year}"
    if isinstance(value, str) and _CONTROL.search(value):
        return "contains a control character"
    if isinstance(value, list | tuple):
        return next((p for p in map(_problem, value) if p), None)
    return None


class Plausible(PlausibleNumbers):
    """Base for payload models: refuses implausible dates, control characters in text, NaN,
    infinity and physical or laboratory values outside ``clinical.plausibility.RANGES``."""

    @model_validator(mode="after")
    def _plausible(self) -> Self:
        for name, value in self:
            problem = _problem(value)
            if problem:
                raise ValueError(f"{name}: {problem}")
        return self

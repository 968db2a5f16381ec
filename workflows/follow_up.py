"""The follow-up schedule: visit due dates counted from the treatment date. Pure."""

import calendar
from datetime import date, timedelta

from models.config import VisitSpec


def add_months(day: date, months: int) -> date:
    """Same day ``months`` later, clamped to the month's end (31 Jan + 1 month = 28/29 Feb)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def visit_due_on(anchor: date, spec: VisitSpec) -> date:
    """When a visit is due, counted from the treatment date."""
    return add_months(anchor, spec.months) + timedelta(weeks=spec.weeks)

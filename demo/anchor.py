"""Moves a seeded cohort's dates so that its history ends today.

The cohort runs on a time-skipping Temporal server, which starts at the machine's time and can
only go forward: years of follow-up end years ahead. Once its workflows are gone, only the read
model remains, and every date in it (columns and the dates inside recorded JSON) moves back by
the same whole number of weeks: the last day of the history lands in the week ending today
(``core.clock``), and weekdays stay weekdays (bookings were made on working days).
"""

import re
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, SQLModel, col, select

from models.events import PathwayEventRow
from models.tables import (
    OutboxRow,
    OutcomeRow,
    PathwayRow,
    StageHistoryRow,
    TaskRow,
    VisitRow,
    WaitingClockRow,
)
from notifications.store import utc

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")

# Every row of a pathway with the date and time columns to move; JSON columns move inside.
_COLUMNS: tuple[tuple[type[SQLModel], tuple[str, ...]], ...] = (
    (PathwayRow, ("stage_entered_at", "referred_at", "next_due_on", "treatment_on", "updated_at")),
    (StageHistoryRow, ("entered_at",)),
    (TaskRow, ("opened_at", "due_on", "not_before", "closed_at")),
    (VisitRow, ("due_on", "recorded_on")),
    (OutcomeRow, ("recorded_at", "data")),
    (OutboxRow, ("due_on", "send_at", "created_at", "delivered_at")),
    (WaitingClockRow, ("start_on", "stop_on", "pauses")),
    (PathwayEventRow, ("time", "data")),
)


def weeks_back(last_day: date, today: date) -> timedelta:
    """The whole weeks to move a history ending ``last_day`` so it ends in the week to today."""
    days = (last_day - today).days
    return timedelta(weeks=-(-days // 7))  # rounded up: the last day is never after today


def _moved(value: Any, by: timedelta) -> Any:
    """``value`` moved back by ``by``: a date, a datetime, or ISO strings inside JSON."""
    if isinstance(value, datetime | date):
        return value - by
    if isinstance(value, str) and _DATETIME.match(value):
        return (datetime.fromisoformat(value) - by).isoformat()
    if isinstance(value, str) and _DATE.match(value):
        return (date.fromisoformat(value) - by).isoformat()
    if isinstance(value, dict):
        return {k: _moved(v, by) for k, v in value.items()}
    if isinstance(value, list):
        return [_moved(v, by) for v in value]
    return value


def anchor_to_today(engine: Engine, ids: Sequence[str], last_day: date, now: datetime) -> timedelta:
    """Move every date of the pathways ``ids`` back so their history ends by ``now``'s date;
    how far they moved. Reminders due by ``now`` count as sent when they were due: the
    synthetic history has no one to send them to, and a live service's would have gone."""
    by = weeks_back(last_day, now.date())
    with Session(engine) as session:
        for table, columns in _COLUMNS:
            key = table.id if table is PathwayRow else table.pathway_id  # type: ignore[attr-defined]
            for row in session.exec(select(table).where(col(key).in_(list(ids)))).all():
                for name in columns:
                    setattr(row, name, _moved(getattr(row, name), by))
                if isinstance(row, OutboxRow) and not row.delivered_at and utc(row.send_at) <= now:
                    row.delivered_at = row.send_at
                session.add(row)
        session.commit()
    return by

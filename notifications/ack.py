"""Acknowledging an overdue task's escalation: the ladder stops, and the ack is the audit.

The workflow keeps writing its overdue/escalation/timeout alarms to the outbox; the delivery
loop suppresses those of an acknowledged task (state "suppressed", with the reason), for the
task's due date at the time of the ack. A re-dated task that runs late again climbs afresh.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from core import clock
from models.notifications import AckRow
from models.tables import TaskRow
from models.vocab import TaskState
from notifications.store import utc


class AckError(ValueError):
    """The acknowledgement was refused (unknown or closed task); the message says why."""


@dataclass(frozen=True)
class Ack:
    """A recorded acknowledgement."""

    id: int
    pathway_id: str
    task_id: str
    due_on: date | None
    by: str
    at: datetime
    note: str | None


def acknowledge(
    engine: Engine,
    pathway_id: str,
    task_id: str,
    by: str,
    note: str | None = None,
    now: datetime | None = None,
) -> Ack:
    """Acknowledge an open task's escalation; raises AckError if there is nothing to ack.

    ``by`` is the acknowledging user's name or login (staff, not patient, data).
    """
    if not by.strip():
        raise AckError("by: say who acknowledges")
    at = (now or clock.now()).astimezone(UTC)
    with Session(engine) as session:
        task = session.get(TaskRow, (pathway_id, task_id))
        if task is None:
            raise AckError(f"task_id: no task {task_id!r} on pathway {pathway_id!r}")
        if task.state != TaskState.OPEN:
            raise AckError(f"task_id: task {task_id!r} is {task.state}, not open")
        row = AckRow(
            pathway_id=pathway_id,
            task_id=task_id,
            due_on=task.due_on,
            by=by.strip()[:64],
            at=at,
            note=note,
        )
        session.add(row)
        session.commit()
        session.refresh(row)
        assert row.id is not None
        return Ack(row.id, pathway_id, task_id, row.due_on, row.by, utc(row.at), row.note)


def acknowledgements(engine: Engine, pathway_id: str) -> list[Ack]:
    """A pathway's acknowledgements, oldest first (the audit trail)."""
    stmt = select(AckRow).where(col(AckRow.pathway_id) == pathway_id).order_by(col(AckRow.at))
    with Session(engine) as session:
        return [
            Ack(r.id or 0, r.pathway_id, r.task_id, r.due_on, r.by, utc(r.at), r.note)
            for r in session.exec(stmt).all()
        ]

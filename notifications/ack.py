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
from models.tables import OutboxRow, TaskRow
from models.vocab import MessageKind, Role, TaskState
from notifications.store import utc


class AckError(ValueError):
    """The acknowledgement was refused (unknown or closed task); the message says why."""


class AckNotYours(AckError):
    """The caller's role is neither the task's nor one its escalation went to."""


def _ack_roles(session: Session, task: TaskRow) -> set[str]:
    """The task's role and every role an escalation of it was addressed to."""
    stmt = select(OutboxRow.recipient_role).where(
        col(OutboxRow.pathway_id) == task.pathway_id,
        col(OutboxRow.task_id) == task.id,
        col(OutboxRow.kind).in_([MessageKind.ESCALATION, MessageKind.TIMEOUT]),
    )
    return {task.role, *session.exec(stmt).all()}


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
    role: Role | None = None,
) -> Ack:
    """Acknowledge an open task's escalation; raises AckError if there is nothing to ack.

    ``by`` is the acknowledging user's name or login (staff, not patient, data). With
    ``role`` (the app's callers), only the task's own role or a role its escalations were sent
    to may acknowledge: nobody can silence another team's alarm.
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
        if role is not None and role not in _ack_roles(session, task):
            raise AckNotYours(
                f"task_id: task {task_id!r} is for {task.role}; only that role or the role "
                "its escalation went to may acknowledge it"
            )
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

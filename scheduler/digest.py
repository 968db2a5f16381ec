"""The daily worklist digest: one message per role with its open tasks, pseudonymously."""

from datetime import date, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from models.notifications import NotificationRow, NotificationState
from models.tables import TaskRow
from models.vocab import TaskState
from notifications.store import add_notification

HORIZON_DAYS = 7


def worklist_lines(engine: Engine, role: str, today: date) -> tuple[list[str], int]:
    """A role's open tasks due within the horizon (overdue first), and how many are overdue."""
    stmt = (
        select(TaskRow)
        .where(
            col(TaskRow.role) == role,
            col(TaskRow.state) == TaskState.OPEN,
            col(TaskRow.due_on) <= today + timedelta(days=HORIZON_DAYS),
        )
        .order_by(col(TaskRow.overdue).desc(), col(TaskRow.due_on), col(TaskRow.pathway_id))
    )
    with Session(engine) as session:
        tasks = list(session.exec(stmt).all())
    lines = [
        f"{t.pathway_id}  {t.title}  due {t.due_on}" + ("  OVERDUE" if t.overdue else "")
        for t in tasks
    ]
    return lines, sum(1 for t in tasks if t.overdue)


def write_digests(engine: Engine, roles: list[str], today: date, now: datetime) -> list[str]:
    """Queue today's digest for each role that has something on its list; returns the keys.

    Keyed by role and date, so writing twice on one day queues one digest.
    """
    written = []
    for role in roles:
        lines, overdue = worklist_lines(engine, role, today)
        if not lines:
            continue
        key = f"digest:{role}:{today.isoformat()}"
        note = NotificationRow(
            key=key,
            source="digest",
            recipient_role=role,
            kind="digest",
            subject=f"SIRT worklist for {role}, {today}: {len(lines)} task(s), {overdue} overdue",
            body="\n".join(lines),
            send_at=now,
            state=NotificationState.NEW,
            created_at=now,
        )
        if add_notification(engine, note):
            written.append(key)
    return written

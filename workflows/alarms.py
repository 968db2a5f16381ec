"""When a task's reminders, overdue mark, escalation and timeout fire. Pure and deterministic."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from models.config import StepPolicy
from models.state import Task
from models.vocab import TimeoutAction


class AlarmKind(StrEnum):
    """What an alarm does when it fires."""

    REMINDER = "reminder"
    OVERDUE = "overdue"
    ESCALATE = "escalate"
    TIMEOUT = "timeout"


@dataclass(frozen=True)
class Alarm:
    """One point in time at which the pathway acts on a task."""

    key: str
    at: datetime
    kind: AlarmKind


def start_of(day: date) -> datetime:
    """Midnight UTC at the start of ``day``: tasks are due on dates, alarms fire at midnight."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def alarms_for(task: Task, policy: StepPolicy, timeout_after_days: int | None) -> list[Alarm]:
    """The alarms of an open task that have not fired yet, in time order.

    A reminder that would fall before the task was opened is skipped, not fired late.
    """
    alarms: list[Alarm] = []
    for days_before in sorted(set(policy.reminder_days_before), reverse=True):
        at = start_of(task.due_on - timedelta(days=days_before))
        if at >= task.opened_at:
            alarms.append(Alarm(f"reminder:{days_before}", at, AlarmKind.REMINDER))
    overdue_at = start_of(task.due_on + timedelta(days=1))
    alarms.append(Alarm("overdue", overdue_at, AlarmKind.OVERDUE))
    if policy.escalate_after_days is not None:
        at = overdue_at + timedelta(days=policy.escalate_after_days)
        alarms.append(Alarm("escalate", at, AlarmKind.ESCALATE))
    if timeout_after_days is not None and policy.timeout_action != TimeoutAction.NONE:
        at = overdue_at + timedelta(days=timeout_after_days)
        alarms.append(Alarm("timeout", at, AlarmKind.TIMEOUT))
    pending = [a for a in alarms if a.key not in task.fired]
    return sorted(pending, key=lambda a: a.at)

"""When a task's reminders, overdue mark, escalation and timeout fire. Pure and deterministic.

With a working calendar, offsets count working days and alarms fire at the centre's local
reminder time; without one (pathways started before calendars existed), calendar days at
midnight UTC.
"""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from core.calendar import WorkingCalendar
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
    """Midnight UTC at the start of ``day``."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


@dataclass(frozen=True)
class Clock:
    """Date arithmetic and alarm times, with or without a working calendar.

    One per pathway run. It remembers the alarms it worked out for each task's timing
    (``alarms_for``): the main loop asks for them after every step, for every open task.
    """

    calendar: WorkingCalendar | None = None
    _alarms: dict[tuple[object, ...], tuple["Alarm", ...]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def shift(self, day: date, days: int) -> date:
        """``days`` later (or earlier): working days with a calendar."""
        if self.calendar is None:
            return day + timedelta(days=days)
        return self.calendar.add_working_days(day, days)

    def on_or_after(self, day: date) -> date:
        """``day`` itself, or the next working day."""
        return self.calendar.next_working_day(day) if self.calendar else day

    def alarm_at(self, day: date) -> datetime:
        """When an alarm for ``day`` fires."""
        return self.calendar.reminder_time(day) if self.calendar else start_of(day)

    def today(self, now: datetime) -> date:
        """The centre's date at ``now``."""
        return self.calendar.local_date(now) if self.calendar else now.date()


def alarms_for(
    task: Task, policy: StepPolicy, clock: Clock, timeout_on: date | None = None
) -> list[Alarm]:
    """The alarms of an open task that have not fired yet, in time order.

    ``timeout_on`` overrides the policy's timeout date (a visit's window end). A reminder
    that would fall before the task was opened is skipped, not fired late.
    """
    # Everything the answer depends on; the calendar is the clock's own.
    key = (task.due_on, task.opened_at, tuple(task.fired), timeout_on, policy)
    known = clock._alarms.get(key)
    if known is None:
        if len(clock._alarms) >= _REMEMBERED:  # keys of closed tasks and fired alarms
            clock._alarms.clear()
        known = clock._alarms[key] = tuple(_work_out_alarms(task, policy, clock, timeout_on))
    return list(known)


# Enough for every open task of a pathway; a pathway's clock forgets all past it.
_REMEMBERED = 64


def _work_out_alarms(
    task: Task, policy: StepPolicy, clock: Clock, timeout_on: date | None
) -> list[Alarm]:
    alarms: list[Alarm] = []
    for days_before in sorted(set(policy.reminder_days_before), reverse=True):
        at = clock.alarm_at(clock.shift(task.due_on, -days_before))
        if at >= task.opened_at:
            alarms.append(Alarm(f"reminder:{days_before}", at, AlarmKind.REMINDER))
    alarms.append(Alarm("overdue", clock.alarm_at(clock.shift(task.due_on, 1)), AlarmKind.OVERDUE))
    if policy.escalate_after_days is not None:
        day = clock.shift(task.due_on, 1 + policy.escalate_after_days)
        alarms.append(Alarm("escalate", clock.alarm_at(day), AlarmKind.ESCALATE))
    if timeout_on is None and policy.timeout_after_days is not None:
        timeout_on = clock.shift(task.due_on, 1 + policy.timeout_after_days)
    if timeout_on is not None and policy.timeout_action != TimeoutAction.NONE:
        alarms.append(Alarm("timeout", clock.alarm_at(timeout_on), AlarmKind.TIMEOUT))
    pending = [a for a in alarms if a.key not in task.fired]
    return sorted(pending, key=lambda a: a.at)

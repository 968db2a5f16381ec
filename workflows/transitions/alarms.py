"""Time passing: reminders, overdue marks, escalations and timeouts of open tasks, and the
breach of a waiting-time clock still running past its target."""

from datetime import datetime, timedelta

from clinical.clocks import ClockStatus, clock_status
from models.state import ClockBreach, Task
from models.vocab import MessageKind, TaskKind, TaskState, TimeoutAction, VisitState
from workflows.alarms import Alarm, AlarmKind, alarms_for
from workflows.transitions.working import Working


def alarms_of(w: Working, task: Task) -> list[Alarm]:
    """The alarms of ``task`` still to fire, in time order."""
    policy = w.config.steps[task.kind]
    timeout_on = None
    if task.visit_id is not None:
        # A visit is missed the day after its window closes; windows are calendar days.
        visit = w.state.visits[task.visit_id]
        timeout_on = visit.due_on + timedelta(days=visit.window_days + 1)
    return alarms_for(task, policy, w.ctx.clock, timeout_on)


def fire_due_alarms(w: Working) -> bool:
    """Fire every alarm due by now (tasks', then clocks' breaches); True if any fired."""
    fired = False
    for task in w.state.open_tasks:
        for alarm in alarms_of(w, task):
            if alarm.at > w.ctx.now or not task.is_open:
                break
            task.fired.append(alarm.key)
            w.effects.dirty_tasks.add(task.id)
            _fire(w, task, alarm)
            fired = True
    return announce_breaches(w) or fired


def _breaches_ahead(w: Working) -> list[tuple[datetime, str, ClockStatus]]:
    """Running clocks whose breach is not announced yet, each with when it will be: the
    alarm time of the first day past the standard. A clock paused now has none (its breach
    date moves a day later for each day paused); resuming it wakes the pathway."""
    if not w.ctx.clock_breaches:
        return []
    ahead = []
    for key, clock in sorted(w.state.clocks.items()):
        paused = bool(clock.pauses) and clock.pauses[-1].end is None
        if clock.stop is not None or paused or key in w.state.breached_clocks:
            continue
        status = clock_status(clock, max(clock.start, w.ctx.today), w.config.clinical.clocks)
        at = w.ctx.clock.alarm_at(status.breach_date + timedelta(days=1))
        ahead.append((at, key, status))
    return ahead


def next_breach_at(w: Working) -> datetime | None:
    """When the next clock breach is to be announced, if any clock is heading for one."""
    return min((at for at, _, _ in _breaches_ahead(w)), default=None)


def announce_breaches(w: Working) -> bool:
    """Announce each clock whose breach is due by now (once: its key is kept); True if any."""
    due = [(key, status) for at, key, status in _breaches_ahead(w) if at <= w.ctx.now]
    for key, status in due:
        w.state.breached_clocks.append(key)
        w.effects.clock_breaches.append(
            ClockBreach(
                key=key,
                kind=status.kind,
                started_on=w.state.clocks[key].start,
                target_days=status.target_days,
                breach_date=status.breach_date,
                paused_days=status.paused_days,
            )
        )
    return bool(due)


def _fire(w: Working, task: Task, alarm: Alarm) -> None:
    policy = w.config.steps[task.kind]
    what = f"{task.title} for pathway {w.state.pathway_id}, due {task.due_on}"
    # Alarm kind -> (message kind, recipient, subject prefix); missed visits send nothing.
    messages = {
        AlarmKind.REMINDER: (MessageKind.REMINDER, policy.role, "Reminder"),
        AlarmKind.OVERDUE: (MessageKind.OVERDUE, policy.role, "Overdue"),
        AlarmKind.ESCALATE: (MessageKind.ESCALATION, w.config.escalation_role, "Escalation"),
    }
    if alarm.kind == AlarmKind.OVERDUE:
        task.overdue = True
    if alarm.kind in messages:
        kind, role, prefix = messages[alarm.kind]
        w.message(task, kind, role, f"{prefix}: {what}", alarm.key, alarm.at)
    elif policy.timeout_action == TimeoutAction.ESCALATE:
        role = w.config.timeout_escalation_role
        w.message(task, MessageKind.TIMEOUT, role, f"Timed out: {what}", alarm.key, alarm.at)
    elif policy.timeout_action == TimeoutAction.MARK_MISSED:
        _miss_visit(w, task)


def _miss_visit(w: Working, task: Task) -> None:
    st = w.state
    w.close(task, TaskState.MISSED)
    assert task.visit_id is not None
    visit = st.visits[task.visit_id]
    visit.state = VisitState.MISSED
    w.effects.dirty_visits.add(visit.id)
    st.consecutive_missed_visits += 1
    w.open_task(TaskKind.CHASE_MISSED_VISIT, detail=f"visit {visit.code} missed")
    needed = w.config.missed_visits_for_ltfu_review
    if st.consecutive_missed_visits >= needed and w.open_task_of(TaskKind.LTFU_REVIEW) is None:
        w.open_task(
            TaskKind.LTFU_REVIEW, detail=f"{st.consecutive_missed_visits} visits missed in a row"
        )

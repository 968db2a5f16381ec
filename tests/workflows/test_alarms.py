"""Alarm times are pure functions of the task, its policy and the centre's calendar."""

from datetime import UTC, date, datetime

from core.calendar import CalendarConfig, WorkingCalendar
from models.config import PathwayConfig
from models.state import Task
from models.vocab import Role, TaskKind
from workflows.alarms import AlarmKind, Clock, alarms_for
from workflows.follow_up import add_months

POLICIES = PathwayConfig().steps
LONDON_CLOCK = Clock(WorkingCalendar(CalendarConfig()))


def task(due_on: date, kind: TaskKind = TaskKind.MDT_DECISION) -> Task:
    return Task(
        id="t-1",
        kind=kind,
        role=Role.MDT_CLINICIAN,
        title="MDT",
        opened_at=datetime(2026, 11, 30, 9, tzinfo=UTC),
        due_on=due_on,
    )


def test_an_mdt_due_on_christmas_eve_escalates_after_the_bank_holidays() -> None:
    alarms = alarms_for(task(date(2026, 12, 24)), POLICIES[TaskKind.MDT_DECISION], LONDON_CLOCK)
    # 25 Dec (Fri) and 28 Dec (Mon, Boxing Day substitute) are bank holidays in England.
    assert [(a.kind, a.at) for a in alarms] == [
        (AlarmKind.REMINDER, datetime(2026, 12, 21, 8, tzinfo=UTC)),
        (AlarmKind.REMINDER, datetime(2026, 12, 24, 8, tzinfo=UTC)),
        (AlarmKind.OVERDUE, datetime(2026, 12, 29, 8, tzinfo=UTC)),
        (AlarmKind.ESCALATE, datetime(2026, 12, 31, 8, tzinfo=UTC)),
        (AlarmKind.TIMEOUT, datetime(2027, 1, 8, 8, tzinfo=UTC)),
    ]


def test_summer_reminders_go_at_8_london_time_which_is_7_utc() -> None:
    alarms = alarms_for(task(date(2027, 6, 16)), POLICIES[TaskKind.MDT_DECISION], LONDON_CLOCK)
    assert alarms[0].at == datetime(2027, 6, 11, 7, tzinfo=UTC)  # Fri: 3 working days before


def test_without_a_calendar_alarms_are_at_midnight_utc_on_calendar_days() -> None:
    alarms = alarms_for(task(date(2026, 12, 24)), POLICIES[TaskKind.MDT_DECISION], Clock())
    assert [a.at for a in alarms] == [
        datetime(2026, 12, 21, tzinfo=UTC),
        datetime(2026, 12, 24, tzinfo=UTC),
        datetime(2026, 12, 25, tzinfo=UTC),
        datetime(2026, 12, 27, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    ]


def test_fired_alarms_and_reminders_before_opening_are_left_out() -> None:
    t = task(date(2026, 12, 1))
    t.fired = ["overdue"]
    keys = [a.key for a in alarms_for(t, POLICIES[TaskKind.MDT_DECISION], Clock())]
    assert keys == ["reminder:0", "escalate", "timeout"]  # 3 days before was 28 Nov


def test_a_clock_remembers_alarms_only_for_the_same_timing_and_fired_alarms() -> None:
    clock = Clock(WorkingCalendar(CalendarConfig()))
    policy = POLICIES[TaskKind.MDT_DECISION]
    t = task(date(2026, 12, 24))
    first = alarms_for(t, policy, clock)
    first.clear()  # what a caller does with its list is its own business
    assert alarms_for(t, policy, clock) == alarms_for(t, policy, LONDON_CLOCK)
    t.fired = ["reminder:3"]
    assert alarms_for(t, policy, clock)[0].key == "reminder:0"
    rebooked = task(date(2027, 6, 16))
    assert alarms_for(rebooked, policy, clock)[0].at == datetime(2027, 6, 11, 7, tzinfo=UTC)
    other = POLICIES[TaskKind.FOLLOW_UP_VISIT]
    afresh = alarms_for(t, other, Clock(WorkingCalendar(CalendarConfig())))
    assert afresh != alarms_for(t, policy, clock)
    assert alarms_for(t, other, clock) == afresh


def test_months_are_added_to_the_calendar_date_and_clamped() -> None:
    assert add_months(date(2027, 1, 31), 1) == date(2027, 2, 28)
    assert add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)
    assert add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)
    assert add_months(date(2026, 6, 15), 60) == date(2031, 6, 15)

"""Working days, bank holidays, reminder times across clock changes and quiet hours."""

import builtins
import os
from datetime import UTC, date, datetime, time, timedelta

import pytest
from pydantic import ValidationError

from core.calendar import CalendarConfig, Nation, QuietHours, WorkingCalendar

ENGLAND = WorkingCalendar()


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("due", "moved_to"),
    [
        # Christmas Day 2026 is a Friday; Boxing Day (Sat) is observed on Monday 28th.
        (date(2026, 12, 25), date(2026, 12, 29)),
        (date(2026, 12, 26), date(2026, 12, 29)),
        (date(2026, 12, 28), date(2026, 12, 29)),
        # Easter Monday 2027.
        (date(2027, 3, 29), date(2027, 3, 30)),
        # Good Friday 2027 -> the Tuesday after Easter Monday.
        (date(2027, 3, 26), date(2027, 3, 30)),
        # A Saturday and a Sunday -> Monday.
        (date(2026, 6, 13), date(2026, 6, 15)),
        (date(2026, 6, 14), date(2026, 6, 15)),
        # A working day stays put.
        (date(2026, 6, 16), date(2026, 6, 16)),
    ],
)
def test_a_due_date_on_a_non_working_day_moves_to_the_next_working_day(
    due: date, moved_to: date
) -> None:
    assert ENGLAND.next_working_day(due) == moved_to
    assert ENGLAND.is_working_day(moved_to)


def test_nations_have_their_own_bank_holidays() -> None:
    scotland = CalendarConfig(nation=Nation.SCOTLAND).calendar()
    ni = CalendarConfig(nation=Nation.NORTHERN_IRELAND).calendar()
    wales = CalendarConfig(nation=Nation.WALES).calendar()
    # 2 January is a Scottish bank holiday; St Patrick's Day is Northern Ireland's.
    assert not scotland.is_working_day(date(2026, 1, 2))
    assert ENGLAND.is_working_day(date(2026, 1, 2))
    assert not ni.is_working_day(date(2026, 3, 17))
    assert ENGLAND.is_working_day(date(2026, 3, 17))
    # Scotland has no Easter Monday bank holiday; Wales follows England.
    assert scotland.is_working_day(date(2027, 3, 29))
    assert not wales.is_working_day(date(2027, 3, 29))


def test_adding_working_days_skips_weekends_and_bank_holidays() -> None:
    assert ENGLAND.add_working_days(date(2026, 6, 12), 1) == date(2026, 6, 15)  # Fri + 1
    assert ENGLAND.add_working_days(date(2026, 12, 24), 1) == date(2026, 12, 29)
    assert ENGLAND.add_working_days(date(2026, 12, 24), 3) == date(2026, 12, 31)
    assert ENGLAND.add_working_days(date(2026, 6, 13), 0) == date(2026, 6, 15)
    # Backwards: the working day before Tuesday 29 Dec is Thursday 24 Dec.
    assert ENGLAND.add_working_days(date(2026, 12, 29), -1) == date(2026, 12, 24)
    assert ENGLAND.previous_working_day(date(2026, 12, 28)) == date(2026, 12, 24)
    assert ENGLAND.working_days_between(date(2026, 12, 24), date(2026, 12, 31)) == 3
    assert ENGLAND.working_days_between(date(2026, 12, 31), date(2026, 12, 24)) == -3


def test_extra_closures_count_as_non_working_days() -> None:
    closed = CalendarConfig(extra_closures=(date(2026, 6, 15),)).calendar()
    assert closed.next_working_day(date(2026, 6, 13)) == date(2026, 6, 16)


@pytest.mark.parametrize(
    ("local_day", "expected_utc"),
    [
        # Clocks go forward on Sunday 29 March 2026 (GMT -> BST).
        (date(2026, 3, 27), utc(2026, 3, 27, 8, 0)),
        (date(2026, 3, 28), utc(2026, 3, 28, 8, 0)),
        (date(2026, 3, 29), utc(2026, 3, 29, 7, 0)),
        (date(2026, 3, 30), utc(2026, 3, 30, 7, 0)),
        # Clocks go back on Sunday 25 October 2026 (BST -> GMT).
        (date(2026, 10, 24), utc(2026, 10, 24, 7, 0)),
        (date(2026, 10, 25), utc(2026, 10, 25, 8, 0)),
        (date(2026, 10, 26), utc(2026, 10, 26, 8, 0)),
    ],
)
def test_reminders_fire_at_0800_local_across_clock_changes(
    local_day: date, expected_utc: datetime
) -> None:
    at = ENGLAND.reminder_time(local_day)
    assert at == expected_utc and at.tzinfo is UTC
    assert ENGLAND.local(at).time() == time(8, 0)


def test_a_reminder_time_in_the_spring_gap_is_still_one_instant() -> None:
    # 01:30 does not exist on 29 March 2026: read with the GMT offset, it is 01:30 UTC.
    assert ENGLAND.reminder_time(date(2026, 3, 29), time(1, 30)) == utc(2026, 3, 29, 1, 30)
    # 01:30 happens twice on 25 October 2026: the first (BST) is taken.
    assert ENGLAND.reminder_time(date(2026, 10, 25), time(1, 30)) == utc(2026, 10, 25, 0, 30)


def test_quiet_hours_push_a_message_to_the_morning_in_local_time() -> None:
    # 21:30 BST on 28 March -> 08:00 on the 29th, which is BST by then: 07:00 UTC.
    assert ENGLAND.shift_out_of_quiet_hours(utc(2026, 3, 28, 20, 30)) == utc(2026, 3, 29, 7, 0)
    # 03:00 UTC in winter is 03:00 local: the same morning at 08:00.
    assert ENGLAND.shift_out_of_quiet_hours(utc(2026, 12, 1, 3, 0)) == utc(2026, 12, 1, 8, 0)
    # 12:00 is not quiet; 19:59 local (18:59 UTC in summer) neither.
    assert ENGLAND.shift_out_of_quiet_hours(utc(2026, 7, 1, 12, 0)) == utc(2026, 7, 1, 12, 0)
    assert not ENGLAND.in_quiet_hours(utc(2026, 7, 1, 18, 59))
    assert ENGLAND.in_quiet_hours(utc(2026, 7, 1, 19, 0))
    # Quiet hours within one day, and none at all.
    lunch = CalendarConfig(quiet_hours=QuietHours(start=time(12), end=time(13))).calendar()
    assert lunch.shift_out_of_quiet_hours(utc(2026, 12, 1, 12, 15)) == utc(2026, 12, 1, 13, 0)
    never = CalendarConfig(quiet_hours=None).calendar()
    assert never.shift_out_of_quiet_hours(utc(2026, 12, 1, 3, 0)) == utc(2026, 12, 1, 3, 0)


def test_next_working_time_skips_quiet_hours_weekends_and_holidays() -> None:
    # Christmas Eve 2026 at 22:00 -> Tuesday 29 December at 08:00 GMT.
    assert ENGLAND.next_working_time(utc(2026, 12, 24, 22, 0)) == utc(2026, 12, 29, 8, 0)
    assert ENGLAND.next_working_time(utc(2026, 12, 23, 10, 0)) == utc(2026, 12, 23, 10, 0)


def test_configuration_is_validated_and_round_trips_as_json() -> None:
    config = CalendarConfig(nation=Nation.SCOTLAND, reminder_local_time=time(9, 30))
    again = CalendarConfig.model_validate_json(config.model_dump_json())
    assert again == config
    with pytest.raises(ValidationError, match="time zone"):
        CalendarConfig(timezone="Europe/Atlantis")
    with pytest.raises(ValidationError, match="differ"):
        QuietHours(start=time(8), end=time(8))
    with pytest.raises(ValueError, match="outside"):
        ENGLAND.is_working_day(date(2150, 1, 1))


def test_calls_do_no_io(monkeypatch: pytest.MonkeyPatch) -> None:
    """Deterministic inside a workflow: no file is opened, no clock or environment read."""
    calendar = CalendarConfig(nation=Nation.WALES).calendar()

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("I/O at call time")

    for name in ("open", "stat", "listdir", "scandir", "getenv"):
        target = builtins if name == "open" else os
        monkeypatch.setattr(target, name, refuse)
    day = date(2026, 12, 24)
    assert calendar.add_working_days(day, 5) == date(2027, 1, 5)
    assert calendar.reminder_time(day) == utc(2026, 12, 24, 8, 0)
    assert calendar.shift_out_of_quiet_hours(utc(2026, 12, 24, 23, 0)) == utc(2026, 12, 25, 8, 0)
    assert calendar.is_working_day(day + timedelta(days=1)) is False

"""NHS cancer waiting-time clocks: days waited, pauses for patient choice, breach and PTL group."""

from datetime import date

import pytest
from pydantic import ValidationError

from clinical.clocks import (
    ClockKind,
    ClockPause,
    WaitingClock,
    clock_status,
    ptl_bucket,
    ptl_bucket_labels,
)
from clinical.config import ClockConfig
from clinical.errors import ClinicalRuleError

REFERRAL = date(2025, 1, 1)
REFERRED = WaitingClock(kind=ClockKind.DAYS_62, start=REFERRAL)


def test_a_62_day_clock_counts_calendar_days_from_referral() -> None:
    status = clock_status(REFERRED, date(2025, 2, 1))
    assert status.days_waited == 31
    assert status.days_remaining == 31
    assert status.breach_date == date(2025, 3, 4)  # 1 Jan + 62 days
    assert not status.breached
    assert status.ptl_bucket == "29-62"


def test_day_62_is_within_target_and_day_63_is_a_breach() -> None:
    on_day_62 = clock_status(REFERRED, date(2025, 3, 4))
    assert (on_day_62.days_waited, on_day_62.breached) == (62, False)
    on_day_63 = clock_status(REFERRED, date(2025, 3, 5))
    assert (on_day_63.days_waited, on_day_63.breached) == (63, True)
    assert on_day_63.ptl_bucket == "63-104"


def test_a_31_day_clock_runs_from_the_decision_to_treat() -> None:
    clock = WaitingClock(kind=ClockKind.DAYS_31, start=date(2025, 3, 3))
    status = clock_status(clock, date(2025, 3, 3))
    assert status.days_waited == 0
    assert status.breach_date == date(2025, 4, 3)
    assert status.target_days == 31


def test_a_patient_choice_pause_moves_the_breach_date() -> None:
    pause = ClockPause(start=date(2025, 1, 10), end=date(2025, 1, 24), reason="patient on holiday")
    clock = REFERRED.model_copy(update={"pauses": (pause,)})
    status = clock_status(clock, date(2025, 3, 10))
    assert status.paused_days == 14
    assert status.days_waited == 68 - 14
    assert status.breach_date == date(2025, 3, 18)
    assert not status.breached
    assert not status.paused


def test_an_open_pause_keeps_pushing_the_breach_date() -> None:
    pause = ClockPause(start=date(2025, 2, 1), reason="patient asked to wait for family event")
    clock = REFERRED.model_copy(update={"pauses": (pause,)})
    status = clock_status(clock, date(2025, 2, 11))
    assert status.paused
    assert status.paused_days == 10
    assert status.days_waited == 31
    assert status.breach_date == date(2025, 3, 14)


def test_a_stopped_clock_freezes_at_first_treatment() -> None:
    clock = REFERRED.model_copy(update={"stop": date(2025, 2, 20)})
    later = clock_status(clock, date(2025, 6, 1))
    assert later.stopped
    assert later.days_waited == 50
    assert not later.breached
    before_stop = clock_status(clock, date(2025, 2, 1))
    assert not before_stop.stopped
    assert before_stop.days_waited == 31


def test_treatment_after_the_breach_date_stays_breached() -> None:
    clock = REFERRED.model_copy(update={"stop": date(2025, 3, 10)})
    status = clock_status(clock, date(2025, 12, 31))
    assert status.days_waited == 68
    assert status.breached


@pytest.mark.parametrize(
    ("days", "bucket"),
    [
        (0, "0-28"),
        (28, "0-28"),
        (29, "29-62"),
        (62, "29-62"),
        (63, "63-104"),
        (104, "63-104"),
        (105, ">104"),
    ],
)
def test_ptl_buckets_on_their_boundaries(days: int, bucket: str) -> None:
    assert ptl_bucket(days) == bucket


def test_ptl_buckets_are_configurable() -> None:
    config = ClockConfig(ptl_bucket_upper_days=(14, 28))
    assert ptl_bucket_labels(config) == ["0-14", "15-28", ">28"]
    assert ptl_bucket(20, config) == "15-28"


def test_a_pause_needs_a_documented_reason() -> None:
    with pytest.raises(ValidationError, match="reason"):
        ClockPause(start=date(2025, 1, 10), reason="   ")


@pytest.mark.parametrize(
    ("pauses", "stop", "message"),
    [
        (
            (ClockPause(start=date(2024, 12, 30), end=date(2025, 1, 5), reason="x"),),
            None,
            "before the clock start",
        ),
        (
            (
                ClockPause(start=date(2025, 1, 5), end=date(2025, 1, 15), reason="x"),
                ClockPause(start=date(2025, 1, 10), end=date(2025, 1, 20), reason="y"),
            ),
            None,
            "not overlap",
        ),
        (
            (
                ClockPause(start=date(2025, 1, 5), reason="x"),
                ClockPause(start=date(2025, 1, 10), end=date(2025, 1, 20), reason="y"),
            ),
            None,
            "open but is not the last",
        ),
        ((ClockPause(start=date(2025, 1, 5), reason="x"),), date(2025, 2, 1), "open pause"),
        ((), date(2024, 12, 1), "stops"),
    ],
)
def test_inconsistent_clocks_are_refused(
    pauses: tuple[ClockPause, ...], stop: date | None, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        WaitingClock(kind=ClockKind.DAYS_62, start=REFERRAL, stop=stop, pauses=pauses)


def test_a_pause_cannot_end_before_it_starts() -> None:
    with pytest.raises(ValidationError, match="ends"):
        ClockPause(start=date(2025, 1, 10), end=date(2025, 1, 9), reason="x")


def test_asking_before_the_clock_started_is_an_error() -> None:
    with pytest.raises(ClinicalRuleError, match="before the clock started"):
        clock_status(REFERRED, date(2024, 12, 31))

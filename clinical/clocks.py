"""NHS cancer waiting-time clocks (CWT guidance v12.1): 31-day and 62-day.

Days are counted from the clock start (day 0: the referral, or the decision to treat) to the
date asked about, or to the clock stop (first treatment) if it came first, minus paused days.
A pause runs from its start date up to, not including, its end date; an open pause counts up to
the date asked about. Every pause needs a documented reason, because pauses are audited.

``breach_date`` is the last day on which treatment still meets the standard (start + target +
paused days, as NHS PTLs show it): a patient treated on that day has waited exactly the target.
``breached`` means more days have been waited than the target. While a pause is open the
breach date moves a day later for each day paused. Dates only: the caller supplies "today"
(``workflow.now().date()`` in a workflow), so nothing here reads a clock.
"""

from datetime import date, timedelta
from typing import Annotated

from pydantic import ConfigDict, StringConstraints, model_validator

from clinical.config import ClockConfig
from clinical.enums import ClockKind
from clinical.errors import ClinicalRuleError
from clinical.finite import Finite

__all__ = [
    "ClockKind",
    "ClockPause",
    "ClockStatus",
    "WaitingClock",
    "clock_status",
    "ptl_bucket",
    "ptl_bucket_labels",
]

_DEFAULT = ClockConfig()


class ClockPause(Finite):
    """A pause for documented patient choice; ``end`` is None while it is still running."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: date
    end: date | None = None
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]

    @model_validator(mode="after")
    def _ends_after_start(self) -> "ClockPause":
        if self.end is not None and self.end < self.start:
            raise ValueError(f"pause ends ({self.end}) before it starts ({self.start})")
        return self


class WaitingClock(Finite):
    """One clock of one pathway: when it started, stopped and was paused."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: ClockKind
    start: date
    stop: date | None = None
    pauses: tuple[ClockPause, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> "WaitingClock":
        if self.stop is not None and self.stop < self.start:
            raise ValueError(f"clock stops ({self.stop}) before it starts ({self.start})")
        previous_end = self.start
        for index, pause in enumerate(self.pauses):
            if pause.start < previous_end:
                raise ValueError(
                    f"pause {index + 1} starts {pause.start}, before the clock start or the end "
                    "of the previous pause: pauses must be in order and not overlap"
                )
            if pause.end is None:
                if index != len(self.pauses) - 1:
                    raise ValueError(f"pause {index + 1} is open but is not the last pause")
                if self.stop is not None:
                    raise ValueError("a stopped clock cannot have an open pause")
                continue
            if self.stop is not None and pause.end > self.stop:
                raise ValueError(f"pause {index + 1} ends after the clock stop ({self.stop})")
            previous_end = pause.end
        return self


class ClockStatus(Finite):
    """Where a clock stands on a given date."""

    model_config = ConfigDict(frozen=True)

    kind: ClockKind
    as_of: date
    target_days: int
    days_waited: int
    paused_days: int
    days_remaining: int
    breach_date: date
    breached: bool
    stopped: bool
    paused: bool
    ptl_bucket: str


def ptl_bucket_labels(config: ClockConfig = _DEFAULT) -> list[str]:
    """PTL group labels in order, e.g. ``["0-28", "29-62", "63-104", ">104"]``."""
    labels: list[str] = []
    lower = 0
    for upper in config.ptl_bucket_upper_days:
        labels.append(f"{lower}-{upper}")
        lower = upper + 1
    labels.append(f">{config.ptl_bucket_upper_days[-1]}")
    return labels


def ptl_bucket(days_waited: int, config: ClockConfig = _DEFAULT) -> str:
    """The PTL group for a number of days waited (upper bounds inclusive)."""
    labels = ptl_bucket_labels(config)
    for upper, label in zip(config.ptl_bucket_upper_days, labels, strict=False):
        if days_waited <= upper:
            return label
    return labels[-1]


def _paused_days(clock: WaitingClock, until: date) -> int:
    total = 0
    for pause in clock.pauses:
        end = until if pause.end is None else min(pause.end, until)
        total += max(0, (end - pause.start).days)
    return total


def clock_status(clock: WaitingClock, as_of: date, config: ClockConfig = _DEFAULT) -> ClockStatus:
    """The clock on ``as_of``: days waited, breach date, breached, PTL bucket."""
    if as_of < clock.start:
        raise ClinicalRuleError(f"{as_of} is before the clock started on {clock.start}")
    target = config.target_days[clock.kind]
    stopped = clock.stop is not None and clock.stop <= as_of
    until = clock.stop if stopped and clock.stop is not None else as_of
    paused_days = _paused_days(clock, until)
    days_waited = (until - clock.start).days - paused_days
    paused_now = not stopped and any(
        pause.start <= as_of and (pause.end is None or as_of < pause.end) for pause in clock.pauses
    )
    return ClockStatus(
        kind=clock.kind,
        as_of=as_of,
        target_days=target,
        days_waited=days_waited,
        paused_days=paused_days,
        days_remaining=target - days_waited,
        breach_date=clock.start + timedelta(days=target + paused_days),
        breached=days_waited > target,
        stopped=stopped,
        paused=paused_now,
        ptl_bucket=ptl_bucket(days_waited, config),
    )

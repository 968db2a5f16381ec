"""A UK working-day calendar: bank holidays, the centre's time zone and quiet hours.

Pure and deterministic, so a workflow may call it: the bank holidays of every nation are
computed once at import (the `holidays` package works from rules, but reads gettext catalogues
while it builds, so it must not run inside a workflow) and time zones are loaded and cached
before first use. Nothing here reads a clock, a file or the environment at call time.
"""

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import cached_property
from zoneinfo import ZoneInfo

import holidays
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

FIRST_YEAR = 2000
LAST_YEAR = 2100
DEFAULT_TIMEZONE = "Europe/London"


class Nation(StrEnum):
    """A UK nation: each has its own bank holidays."""

    ENGLAND = "england"
    WALES = "wales"
    SCOTLAND = "scotland"
    NORTHERN_IRELAND = "northern_ireland"


_SUBDIVISIONS = {
    Nation.ENGLAND: "ENG",
    Nation.WALES: "WLS",
    Nation.SCOTLAND: "SCT",
    Nation.NORTHERN_IRELAND: "NIR",
}


def _bank_holidays(nation: Nation) -> frozenset[date]:
    table = holidays.country_holidays(
        "GB", subdiv=_SUBDIVISIONS[nation], years=range(FIRST_YEAR, LAST_YEAR + 1)
    )
    return frozenset(table.keys())


# Built at import (about 0.1 s), never at call time: see the module docstring.
BANK_HOLIDAYS: dict[Nation, frozenset[date]] = {n: _bank_holidays(n) for n in Nation}

_ZONES: dict[str, ZoneInfo] = {DEFAULT_TIMEZONE: ZoneInfo(DEFAULT_TIMEZONE)}


def zone(name: str) -> ZoneInfo:
    """A time zone, loaded once; configuration validation loads it before any workflow runs."""
    found = _ZONES.get(name)
    if found is None:
        found = _ZONES[name] = ZoneInfo(name)
    return found


class QuietHours(BaseModel):
    """Local hours in which nobody is messaged; may span midnight (20:00-08:00)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: time = time(20, 0)
    end: time = time(8, 0)

    @model_validator(mode="after")
    def _not_empty(self) -> "QuietHours":
        if self.start == self.end:
            raise ValueError("quiet_hours: start and end must differ")
        return self

    def contains(self, local: time) -> bool:
        """Whether a local wall-clock time falls in the quiet period (start inclusive)."""
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


class CalendarConfig(BaseModel):
    """A centre's calendar: nation (bank holidays), time zone, reminder time, quiet hours.

    Frozen and serialisable, so it can travel in workflow input like the rest of
    PathwayConfig and a running pathway keeps the calendar it started with.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    nation: Nation = Nation.ENGLAND
    timezone: str = DEFAULT_TIMEZONE
    reminder_local_time: time = Field(
        default=time(8, 0), description="Local time at which date-based reminders go out."
    )
    quiet_hours: QuietHours | None = Field(default_factory=QuietHours)
    extra_closures: tuple[date, ...] = Field(
        default=(), description="Local non-working days beyond the bank holidays."
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zone(value)
        except (ValueError, KeyError) as exc:  # ZoneInfoNotFoundError is a KeyError
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    def calendar(self) -> "WorkingCalendar":
        """The calendar this configuration describes."""
        return WorkingCalendar(self)


class WorkingCalendar:
    """Working-day arithmetic and local-time conversion for one CalendarConfig."""

    def __init__(self, config: CalendarConfig | None = None) -> None:
        self.config = config or CalendarConfig()

    @cached_property
    def _closed(self) -> frozenset[date]:
        holidays = BANK_HOLIDAYS[self.config.nation]
        if not self.config.extra_closures:
            return holidays  # shared: every cached pathway has a calendar (~33 KB a copy)
        return holidays | frozenset(self.config.extra_closures)

    @cached_property
    def tz(self) -> ZoneInfo:
        """The centre's time zone."""
        return zone(self.config.timezone)

    def is_bank_holiday(self, d: date) -> bool:
        """A bank holiday of the configured nation, or a configured closure."""
        if not FIRST_YEAR <= d.year <= LAST_YEAR:
            raise ValueError(f"{d}: outside the calendar's years {FIRST_YEAR}-{LAST_YEAR}")
        return d in self._closed

    def is_working_day(self, d: date) -> bool:
        """Monday to Friday and not a bank holiday."""
        return d.weekday() < 5 and not self.is_bank_holiday(d)

    def next_working_day(self, d: date) -> date:
        """``d`` if it is a working day, else the first working day after it.

        This is where a due date that falls on a weekend or bank holiday moves to.
        """
        while not self.is_working_day(d):
            d += timedelta(days=1)
        return d

    def previous_working_day(self, d: date) -> date:
        """``d`` if it is a working day, else the last working day before it."""
        while not self.is_working_day(d):
            d -= timedelta(days=1)
        return d

    def add_working_days(self, d: date, n: int) -> date:
        """The date ``n`` working days after ``d`` (before it when ``n`` is negative).

        ``n == 0`` gives ``next_working_day(d)``. Counting starts on the day after ``d``, so
        Friday + 1 is Monday, whatever ``d`` itself is.
        """
        if n == 0:
            return self.next_working_day(d)
        step = timedelta(days=1 if n > 0 else -1)
        remaining = abs(n)
        while remaining:
            d += step
            if self.is_working_day(d):
                remaining -= 1
        return d

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in (start, end]: how many ``add_working_days`` steps lead from one to
        the other (negative when ``end`` is before ``start``)."""
        sign = 1 if end >= start else -1
        lo, hi = sorted((start, end))
        count = sum(
            1 for i in range(1, (hi - lo).days + 1) if self.is_working_day(lo + timedelta(days=i))
        )
        return sign * count

    def local(self, dt: datetime) -> datetime:
        """An aware datetime in the centre's time zone."""
        return _aware(dt).astimezone(self.tz)

    def local_date(self, dt: datetime) -> date:
        """The centre's calendar date at an instant."""
        return self.local(dt).date()

    def reminder_time(self, d: date, at: time | None = None) -> datetime:
        """The UTC instant of local time ``at`` (default: reminder_local_time) on date ``d``.

        Correct across clock changes: 08:00 is 07:00 UTC in summer time, 08:00 UTC in winter.
        A local time that does not exist (in the spring-forward gap) is read with the offset
        before the change, as zoneinfo does with fold=0; an ambiguous one takes the first.
        """
        local_time = at or self.config.reminder_local_time
        return datetime.combine(d, local_time, tzinfo=self.tz).astimezone(UTC)

    def in_quiet_hours(self, dt: datetime) -> bool:
        """Whether an instant falls in the centre's quiet hours."""
        quiet = self.config.quiet_hours
        return quiet is not None and quiet.contains(self.local(dt).time())

    def shift_out_of_quiet_hours(self, dt: datetime) -> datetime:
        """``dt`` (as UTC) if it is outside quiet hours, else the end of that quiet period."""
        quiet = self.config.quiet_hours
        if quiet is None or not self.in_quiet_hours(dt):
            return _aware(dt).astimezone(UTC)
        local = self.local(dt)
        end_day = local.date()
        if local.time() >= quiet.end:
            # In the evening part of a period that spans midnight: it ends tomorrow morning.
            end_day += timedelta(days=1)
        return self.reminder_time(end_day, quiet.end)

    def next_working_time(self, dt: datetime) -> datetime:
        """The first instant at or after ``dt`` that is on a working day and not quiet."""
        moved = self.shift_out_of_quiet_hours(dt)
        day = self.local_date(moved)
        working = self.next_working_day(day)
        if working == day:
            return moved
        start = self.config.quiet_hours.end if self.config.quiet_hours else time(0, 0)
        return self.reminder_time(working, start)

    def working_days(self, start: date, end: date) -> Iterable[date]:
        """The working days from ``start`` to ``end`` inclusive."""
        d = start
        while d <= end:
            if self.is_working_day(d):
                yield d
            d += timedelta(days=1)


def _aware(dt: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)

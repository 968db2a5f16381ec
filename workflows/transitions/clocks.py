"""Pausing and resuming a waiting-time clock for documented patient choice."""

from clinical.clocks import ClockPause, WaitingClock
from models.steps import ClockPauseRequest, ClockResume
from workflows.transitions.working import Working, first_error, refuse


def pause_clock(w: Working, d: ClockPauseRequest) -> None:
    """Pause a waiting-time clock for documented patient choice."""
    key, clock = w.running_clock(d.kind)
    if clock.pauses and clock.pauses[-1].end is None:
        raise refuse(f"kind: the {d.kind} clock is already paused")
    w.not_in_future("start", d.start)
    pauses = (*clock.pauses, ClockPause(start=d.start, reason=d.reason))
    try:
        WaitingClock(kind=clock.kind, start=clock.start, pauses=pauses)
    except ValueError as exc:
        raise refuse(f"start: {first_error(exc)}") from None
    w.state.clocks[key] = clock.model_copy(update={"pauses": pauses})
    w.effects.clocks_dirty = True
    w.record("clock_paused", d, clock=key)


def resume_clock(w: Working, d: ClockResume) -> None:
    """End the running pause of a waiting-time clock."""
    key, clock = w.running_clock(d.kind)
    if not clock.pauses or clock.pauses[-1].end is not None:
        raise refuse(f"kind: the {d.kind} clock is not paused")
    w.not_in_future("end", d.end)
    *done, last = clock.pauses
    if d.end < last.start:
        raise refuse(f"end: {d.end} is before the pause started ({last.start})")
    ended = last.model_copy(update={"end": d.end})
    w.state.clocks[key] = clock.model_copy(update={"pauses": (*done, ended)})
    w.effects.clocks_dirty = True
    # Its breach is heading somewhere again: the main loop must set that alarm.
    w.effects.wake = w.effects.wake or w.ctx.clock_breaches
    w.record("clock_resumed", d, clock=key)

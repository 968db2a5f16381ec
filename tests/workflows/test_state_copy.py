"""The state copy every step takes: equal to the original, sharing nothing that can change.

A step's validator tries it on a copy and its handler keeps another; if a copy shared a
list, a refused step could still change the live state. The state here is a treated
patient's, built with the pure transitions: tasks with fired alarms, visits, outcomes, a
paused waiting-time clock, dosimetry and lesions.
"""

from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import BaseModel

from core.calendar import WorkingCalendar
from core.pathways import centre_pathway_config, parse_step
from demo import examples
from models.copying import deep_copy
from models.referral import Referral
from models.state import PathwayState
from models.steps import ClockPauseRequest
from models.vocab import Stage
from workflows.alarms import Clock
from workflows.transitions import Context, Working, alarms, attempt, selection

MONDAY = datetime(2031, 3, 3, 10, 0, tzinfo=UTC)


def treated_state() -> PathwayState:
    """A patient referred, treated, with a paused clock and the reminders due by then fired."""
    config = centre_pathway_config()
    assert config.calendar is not None
    clock = Clock(WorkingCalendar(config.calendar))
    ctx = Context(now=MONDAY, config=config, clock=clock)
    state = PathwayState(
        pathway_id="pw-copy",
        centre="C1",
        stage=Stage.REFERRED,
        stage_entered_at=MONDAY,
        referred_at=MONDAY,
    )
    w = Working(state, ctx)
    selection.open_referral(w, Referral.model_validate(examples.referral()), MONDAY.date())
    selection.referral_complete(w)
    state = w.state
    pause = ClockPauseRequest(kind="62-day", start=MONDAY.date(), reason="patient choice")
    state = attempt("pause_clock", state, pause, ctx).state
    for slug, payload in examples.to_treatment(MONDAY.date()):
        spec, model = parse_step(slug, payload)
        state = attempt(spec.update, state, model, ctx).state
    later = Working(state, Context(now=MONDAY + timedelta(days=40), config=config, clock=clock))
    alarms.fire_due_alarms(later)
    return later.state


def mutable_ids(value: Any) -> set[int]:
    """The ids of every model, list, dict and set reachable from ``value``."""
    if isinstance(value, BaseModel):
        found = {id(value), id(value.__dict__)}
        for field in value.__dict__.values():
            found |= mutable_ids(field)
        return found
    if isinstance(value, list | set):
        return {id(value)}.union(*(mutable_ids(v) for v in value))
    if isinstance(value, dict):
        return {id(value)}.union(*(mutable_ids(v) for v in value.values()))
    if isinstance(value, tuple):
        return set().union(*(mutable_ids(v) for v in value))
    return set()


def test_the_state_of_a_treated_patient_is_rich_enough_to_test_copying() -> None:
    state = treated_state()
    assert state.stage == Stage.FOLLOW_UP
    assert state.visits and state.history and state.workup and state.plan and state.clocks
    assert any(t.fired for t in state.tasks.values())
    assert any(c.pauses for c in state.clocks.values())


def test_a_copy_equals_the_state_and_what_pydantic_s_deep_copy_gives() -> None:
    state = treated_state()
    copied = deep_copy(state)
    assert copied == state
    assert copied == state.model_copy(deep=True)
    assert copied.model_dump_json() == state.model_dump_json()
    assert copied.model_fields_set == state.model_fields_set


def test_a_copy_shares_no_model_list_dict_or_set_with_the_state() -> None:
    state = treated_state()
    assert mutable_ids(deep_copy(state)).isdisjoint(mutable_ids(state))


def test_changing_a_copy_leaves_the_state_as_it_was() -> None:
    state = treated_state()
    before = state.model_dump_json()
    copied = deep_copy(state)
    task = next(iter(copied.tasks.values()))
    task.fired.append("reminder:99")
    task.due_on = date(2040, 1, 1)
    next(iter(copied.visits.values())).recorded_on = date(2040, 1, 1)
    copied.history.clear()
    copied.delivered_lung_doses_gy.append(99.0)
    copied.stage = Stage.DECEASED
    assert state.model_dump_json() == before

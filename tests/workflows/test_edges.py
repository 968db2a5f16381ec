"""The pathway counts days in the centre's calendar at every edge of the calendar.

A referral at each instant of tests/pinned.py's edges (a Saturday, Christmas Day, the day after
Easter Monday, both clock changes, a minute either side of midnight) starts its 62-day clock on
the centre's date, gets its MDT task due 14 working days later, and is reminded at 08:00 London
time on working days. The expected dates are written out, not computed, so a calendar bug
cannot hide behind the same bug in the test.
"""

from datetime import datetime, timedelta

import pytest

from core.calendar import WorkingCalendar
from core.clock import local_date
from models.vocab import Stage, VisitState
from tests import payloads
from tests.journey import drive_to
from tests.pinned import EDGES, LONDON, london
from tests.readmodel import assert_read_model_matches, outbox

CAL = WorkingCalendar()

# The centre's date at each edge, and the date 14 working days (England) later.
REFERRED_ON_AND_MDT_DUE = {
    "wednesday": ("2031-06-04", "2031-06-24"),
    "saturday": ("2031-06-07", "2031-06-26"),
    # Boxing Day and New Year's Day are bank holidays too.
    "christmas-day": ("2031-12-25", "2032-01-16"),
    # The early May bank holiday (5 May 2031) is skipped.
    "after-easter-monday": ("2031-04-15", "2031-05-06"),
    # Good Friday (11 April) and Easter Monday (14 April 2031) are skipped.
    "spring-forward": ("2031-03-30", "2031-04-21"),
    "fall-back": ("2031-10-26", "2031-11-13"),
    "23:59": ("2031-06-06", "2031-06-26"),
    # UTC's date is still Friday 6 June: the referral belongs to Saturday in Leeds.
    "00:01": ("2031-06-07", "2031-06-26"),
}
assert set(REFERRED_ON_AND_MDT_DUE) == set(EDGES)


@pytest.mark.date_sensitive
@pytest.mark.parametrize("test_now", list(REFERRED_ON_AND_MDT_DUE), indirect=True)
async def test_a_referral_counts_its_days_in_the_centres_calendar(
    pathways, test_now: datetime, request: pytest.FixtureRequest
) -> None:
    referred_on, due_on = REFERRED_ON_AND_MDT_DUE[request.node.callspec.id]
    j = await drive_to(pathways, Stage.MDT_REVIEW)
    assert j.state.referred_at.replace(microsecond=0) == test_now.replace(microsecond=0)
    assert str(j.state.clocks["62-day#1"].start) == referred_on
    [task] = j.state.open_tasks
    assert str(task.due_on) == due_on

    await j.sleep(40)
    sent = [m.send_at for m in outbox(pathways.engine, j.id)]
    assert len(sent) == 5  # two reminders, overdue, escalation, timeout
    for when in sent:
        local = when.astimezone(LONDON)
        assert (local.hour, local.minute) == (8, 0), when
        assert CAL.is_working_day(local.date()), when
    assert_read_model_matches(pathways.engine, await j.live())


@pytest.mark.date_sensitive
async def test_a_visit_on_the_last_evening_of_its_window_counts_and_the_next_day_it_is_missed(
    pathways,
) -> None:
    j = await drive_to(pathways, Stage.FOLLOW_UP)
    two_weeks, six_weeks = j.state.visits["t1-2w"], j.state.visits["t1-6w"]
    # The window is 14 calendar days either side of the due date.
    last_day = two_weeks.due_on + timedelta(days=14)
    now = await j.env.get_current_time()
    await j.env.sleep(london(f"{last_day}T23:59") - now)
    assert await j.today() == last_day
    state = await j.step("follow-up-visit", payloads.visit("2w", last_day))
    assert state.visits["t1-2w"].state == VisitState.DONE
    assert not [t for t in state.open_tasks if t.kind == "chase_missed_visit"]

    # The 6-week visit is left to pass: the morning after its window closes it is missed.
    closes = six_weeks.due_on + timedelta(days=14)
    await j.env.sleep(london(f"{closes}T23:59") - await j.env.get_current_time())
    assert (await j.live()).visits["t1-6w"].state == VisitState.SCHEDULED
    await j.sleep(1)
    state = await j.live()
    assert state.visits["t1-6w"].state == VisitState.MISSED
    [chase] = [t for t in state.open_tasks if t.kind == "chase_missed_visit"]
    assert local_date(chase.opened_at) == closes + timedelta(days=1)
    assert_read_model_matches(pathways.engine, state)

"""Reminders, escalations and timeouts fire at exact simulated times.

New pathways count working days (England) and remind at 08:00 London time; a pathway whose
configuration has no calendar (as before calendars existed) counts calendar days from
midnight UTC. The simulated clock's date depends on the tests run before, so expectations
are computed with the same working calendar, and checked independently for weekday and hour.
"""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from core.calendar import WorkingCalendar
from models.config import PathwayConfig
from models.vocab import Stage, TaskState, VisitState
from tests import payloads
from tests.journey import drive_to, start
from tests.readmodel import assert_read_model_matches, outbox, outcomes
from workflows.follow_up import add_months

CAL = WorkingCalendar()
LONDON = ZoneInfo("Europe/London")
NO_CALENDAR = PathwayConfig()


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def at_8_on_a_working_day(when: datetime) -> bool:
    local = when.astimezone(LONDON)
    return (local.hour, local.minute) == (8, 0) and CAL.is_working_day(local.date())


async def test_an_mdt_not_held_is_reminded_and_escalated_on_working_days(pathways) -> None:
    j = await drive_to(pathways, Stage.MDT_REVIEW)
    [task] = j.state.open_tasks
    opened = CAL.local_date(j.state.referred_at)
    assert task.due_on == CAL.add_working_days(opened, 14)
    assert CAL.working_days_between(opened, task.due_on) == 14
    await j.sleep(40)
    sent = [(m.kind, m.recipient_role, m.send_at) for m in outbox(pathways.engine, j.id)]
    day = CAL.add_working_days
    assert sent == [
        ("reminder", "mdt_clinician", CAL.reminder_time(day(task.due_on, -3))),
        ("reminder", "mdt_clinician", CAL.reminder_time(task.due_on)),
        ("overdue", "mdt_clinician", CAL.reminder_time(day(task.due_on, 1))),
        ("escalation", "pathway_lead", CAL.reminder_time(day(task.due_on, 3))),
        ("timeout", "service_manager", CAL.reminder_time(day(task.due_on, 8))),
    ]
    assert all(at_8_on_a_working_day(when) for _, _, when in sent)


async def test_without_a_calendar_mdt_alarms_count_calendar_days_from_midnight(pathways) -> None:
    j = await drive_to(pathways, Stage.MDT_REVIEW, config=NO_CALENDAR)
    [task] = j.state.open_tasks
    opened = j.state.referred_at.date()
    assert task.due_on == opened + timedelta(days=14)
    # Defaults: reminders 3 days before and on the due date; overdue the next day;
    # the pathway lead 2 days later; the service manager at the 7-day timeout.
    await j.sleep(30)
    sent = [(m.kind, m.recipient_role, m.send_at) for m in outbox(pathways.engine, j.id)]
    due = midnight(task.due_on)
    assert sent == [
        ("reminder", "mdt_clinician", due - timedelta(days=3)),
        ("reminder", "mdt_clinician", due),
        ("overdue", "mdt_clinician", due + timedelta(days=1)),
        ("escalation", "pathway_lead", due + timedelta(days=3)),
        ("timeout", "service_manager", due + timedelta(days=8)),
    ]
    state = await j.live()
    assert state.overdue and state.open_tasks[0].state == TaskState.OPEN
    assert_read_model_matches(pathways.engine, state)


async def test_reminders_before_the_task_opened_are_skipped_not_sent_late(pathways) -> None:
    j = await drive_to(pathways, Stage.WORKUP, config=NO_CALENDAR)
    # Booked for tomorrow: the record task is due the day after, with an on-the-day reminder.
    tomorrow = await j.today() + timedelta(days=1)
    state = await j.step("schedule-workup", {"scheduled_on": tomorrow.isoformat()})
    [record] = [t for t in state.open_tasks if t.kind == "record_workup"]
    assert record.due_on == tomorrow + timedelta(days=1)
    await j.sleep(2)
    kinds = [(m.kind, m.task_id) for m in outbox(pathways.engine, j.id)]
    assert kinds == [("reminder", record.id)]


async def test_rebooking_the_treatment_moves_its_reminders(pathways) -> None:
    j = await drive_to(pathways, Stage.TREATMENT_SCHEDULED)
    first = await j.today() + timedelta(days=10)
    await j.step("schedule-treatment", {"scheduled_on": first.isoformat()})
    later = first + timedelta(days=20)
    state = await j.step("schedule-treatment", {"scheduled_on": later.isoformat()})
    [record] = [t for t in state.open_tasks if t.kind == "record_treatment"]
    assert record.due_on == CAL.add_working_days(later, 1)
    await j.sleep(15)
    # Nothing fires around the first booking any more.
    assert [m.kind for m in outbox(pathways.engine, j.id) if m.task_id == record.id] == []
    assert_read_model_matches(pathways.engine, await j.live())


async def test_follow_up_visits_are_reminded_and_marked_missed_at_the_window_end(pathways) -> None:
    j = await drive_to(pathways, Stage.FOLLOW_UP)
    visit, treated = j.state.visits["t1-2w"], j.state.treatment_on
    assert treated is not None
    assert visit.due_on == CAL.next_working_day(treated + timedelta(weeks=2))
    await j.sleep(35)
    sent = [
        (m.kind, m.send_at) for m in outbox(pathways.engine, j.id) if m.task_id == visit.task_id
    ]
    due = visit.due_on
    assert sent == [
        ("reminder", CAL.reminder_time(CAL.add_working_days(due, -7))),
        ("reminder", CAL.reminder_time(CAL.add_working_days(due, -1))),
        ("overdue", CAL.reminder_time(CAL.add_working_days(due, 1))),
    ]
    state = await j.live()
    assert state.visits["t1-2w"].state == VisitState.MISSED
    [chase] = [t for t in state.open_tasks if t.kind == "chase_missed_visit"]
    # Missed the morning after the 14-day window closes (calendar days, not working days).
    # The timer fires a few milliseconds after its time; the second is exact.
    missed_at = CAL.reminder_time(due + timedelta(days=15))
    assert chase.opened_at.replace(microsecond=0) == missed_at
    assert chase.detail == "visit 2w missed"
    assert_read_model_matches(pathways.engine, state)


async def test_correcting_the_treatment_date_moves_every_pending_visit(pathways) -> None:
    j = await drive_to(pathways, Stage.FOLLOW_UP)
    treated = j.state.treatment_on
    assert treated is not None
    await j.sleep(20)
    state = await j.step(
        "follow-up-visit", payloads.visit("2w", await j.today() - timedelta(days=1))
    )
    corrected = treated - timedelta(days=2)
    state = await j.step(
        "amend-treatment-date",
        {"performed_on": corrected.isoformat(), "reason": "date mistyped"},
    )
    moved = CAL.next_working_day
    assert state.visits["t1-2w"].due_on == moved(treated + timedelta(weeks=2))  # done: unchanged
    assert state.visits["t1-6w"].due_on == moved(corrected + timedelta(weeks=6))
    assert state.visits["t1-3m"].due_on == moved(add_months(corrected, 3))
    task = state.tasks[state.visits["t1-6w"].task_id]
    assert task.due_on == moved(corrected + timedelta(weeks=6))
    assert_read_model_matches(pathways.engine, state)


async def test_an_incomplete_referral_is_re_requested_then_triaged(pathways) -> None:
    j = await start(pathways, grade=None, ki67_pct=None)
    [task] = j.state.open_tasks
    assert task.kind == "triage_referral" and task.detail == "missing: grade, ki67_pct"
    [request] = outbox(pathways.engine, j.id)
    assert (request.kind, request.recipient_role) == ("request", "referrer")
    assert "grade, ki67_pct" in request.subject and "Testpatient" not in request.subject
    state = await j.step("triage", {"complete": False, "missing_items": ["ki67_pct"]})
    assert state.stage == Stage.REFERRED and state.open_tasks[0].detail == "missing: ki67_pct"
    assert len(outbox(pathways.engine, j.id)) == 2
    state = await j.step("triage", {"complete": True})
    assert state.stage == Stage.MDT_REVIEW
    assert [t.kind for t in state.open_tasks] == ["mdt_decision"]
    assert_read_model_matches(pathways.engine, state)


async def test_items_typed_in_at_triage_complete_the_referral(pathways) -> None:
    # The coordinator rings the referrer: the grade is 2. Ki-67 is still to come.
    j = await start(pathways, grade=None, ki67_pct=None)
    state = await j.step("triage", {"complete": False, "supplied": {"grade": 2}})
    assert state.stage == Stage.REFERRED
    assert state.referral_missing == ["ki67_pct"]
    assert state.open_tasks[0].detail == "missing: ki67_pct"
    [_, again] = outbox(pathways.engine, j.id)
    assert "please send: ki67_pct" in again.subject
    # Ki-67 arrives by email: typed in, the referral is complete and goes to the MDT list
    # without a re-referral, although the coordinator did not tick "complete".
    state = await j.step("triage", {"complete": False, "supplied": {"ki67_pct": 12.5}})
    assert state.stage == Stage.MDT_REVIEW
    assert state.referral_missing == []
    assert [t.kind for t in state.open_tasks] == ["mdt_decision"]
    assert len(outbox(pathways.engine, j.id)) == 2  # nothing more was asked of the referrer
    triages = [o.data for o in outcomes(pathways.engine, j.id) if o.kind == "triage"]
    assert [t["supplied"]["grade"] for t in triages] == [2, None]
    assert [t["supplied"]["ki67_pct"] for t in triages] == [None, 12.5]
    assert_read_model_matches(pathways.engine, state)


async def test_a_named_item_typed_in_at_triage_is_not_asked_for_again(pathways) -> None:
    j = await start(pathways, grade=None, ki67_pct=None)
    # The form starts from "grade, ki67_pct"; the coordinator types the grade in.
    triage = {"complete": False, "missing_items": ["grade", "ki67_pct"], "supplied": {"grade": 3}}
    state = await j.step("triage", triage)
    assert state.stage == Stage.REFERRED
    assert state.open_tasks[0].detail == "missing: ki67_pct"

"""Calendar feeds per role: procedures and follow-up visits, with pseudonymous summaries."""

from datetime import date, timedelta
from typing import Any

import pytest
from icalendar import Calendar

from models.vocab import Stage
from notifications.ics import ics_feed
from tests.journey import drive_to


def events(feed: bytes, pathway_id: str) -> list[tuple[date, str, str]]:
    cal = Calendar.from_ical(feed)
    found = [
        (e.decoded("dtstart"), str(e["summary"]), str(e["uid"]))
        for e in cal.walk("VEVENT")
        if pathway_id in str(e["summary"])
    ]
    return sorted(found)


async def test_feeds_show_procedures_and_visits_to_the_roles_that_need_them(
    pathways: Any,
) -> None:
    engine = pathways.engine
    booked = await drive_to(pathways, Stage.TREATMENT_SCHEDULED)
    on = await booked.today() + timedelta(days=10)
    await booked.step("schedule-treatment", {"scheduled_on": on.isoformat()})
    treated = await drive_to(pathways, Stage.FOLLOW_UP)
    now = await pathways.env.get_current_time()

    ir = ics_feed(engine, "interventional_radiologist", now)
    [(day, summary, uid)] = events(ir, booked.id)
    assert (day, summary) == (on, f"SIRT treatment: {booked.id}")
    assert uid.startswith(booked.id) and uid.endswith("@sirt-pathway")
    assert events(ir, treated.id) == [], "radiologists do not get follow-up visits"

    coordinator = ics_feed(engine, "coordinator", now)
    visits = events(coordinator, treated.id)
    first = treated.state.visits["t1-2w"]
    assert visits[0][:2] == (first.due_on, f"Follow-up 2w (call): {treated.id}")
    # Up to the feed's horizon (400 days by default): the 12-month visit, not later ones.
    horizon = now.date() + timedelta(days=400)
    assert [v[0] for v in visits] == sorted(
        v.due_on for v in treated.state.visits.values() if v.due_on <= horizon
    )
    assert events(coordinator, booked.id)[0][0] == on

    # Re-booking keeps the event's UID: calendar clients move it rather than duplicate it.
    later = on + timedelta(days=7)
    await booked.step("schedule-treatment", {"scheduled_on": later.isoformat()})
    [(moved_day, _, moved_uid)] = events(ics_feed(engine, "physicist", now), booked.id)
    assert (moved_day, moved_uid) == (later, uid)

    for feed in (ir, coordinator):
        assert feed.startswith(b"BEGIN:VCALENDAR")
        assert b"Testpatient" not in feed and b"Zebedee" not in feed and b"9434765919" not in feed
    assert events(ics_feed(engine, "referrer", now), booked.id) == []
    with pytest.raises(ValueError):
        ics_feed(engine, "nobody", now)

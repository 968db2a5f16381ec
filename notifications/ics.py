"""iCalendar feeds per role: upcoming procedures and follow-up visits, pseudonymously.

An event names the pathway id and the procedure or visit code, never the patient. Events are
all-day (the pathway knows dates, not theatre times) and keep a stable UID, so a calendar
client moves a re-booked procedure instead of duplicating it.
"""

from datetime import UTC, date, datetime, timedelta

from icalendar import Calendar, Event
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from core import clock
from models.tables import OutcomeRow, TaskRow, VisitRow
from models.vocab import Role, TaskKind, TaskState, VisitState

PRODID = "-//SIRT Pathway//Procedures and follow-up//EN"
UID_DOMAIN = "sirt-pathway"

# Which roles see which events: a table, not branches.
PROCEDURES = "procedures"
VISITS = "visits"
FEEDS: dict[Role, frozenset[str]] = {
    Role.INTERVENTIONAL_RADIOLOGIST: frozenset({PROCEDURES}),
    Role.PHYSICIST: frozenset({PROCEDURES}),
    Role.COORDINATOR: frozenset({PROCEDURES, VISITS}),
    Role.PATHWAY_LEAD: frozenset({PROCEDURES, VISITS}),
    Role.SERVICE_MANAGER: frozenset({PROCEDURES, VISITS}),
}
# Procedure task -> (the booking recorded with its date, the event's title).
_PROCEDURE_TASKS = {
    TaskKind.RECORD_WORKUP: ("schedule_workup", "SIRT work-up angiography"),
    TaskKind.RECORD_TREATMENT: ("schedule_treatment", "SIRT treatment"),
}


def ics_feed(engine: Engine, role: str, now: datetime, horizon_days: int = 400) -> bytes:
    """The role's calendar from today (centre's local date) to ``horizon_days`` ahead, as .ics.

    Raises ValueError for an unknown role; a role with nothing to see gets an empty calendar.
    """
    wanted = FEEDS.get(Role(role), frozenset())
    today = clock.local_date(now)
    until = today + timedelta(days=horizon_days)
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", f"SIRT {role}")
    with Session(engine) as session:
        if PROCEDURES in wanted:
            for event in _procedures(session, today, until, now):
                cal.add_component(event)
        if VISITS in wanted:
            for event in _visits(session, today, until, now):
                cal.add_component(event)
    return bytes(cal.to_ical())


def _procedures(session: Session, today: date, until: date, now: datetime) -> list[Event]:
    stmt = (
        select(TaskRow)
        .where(
            col(TaskRow.kind).in_(list(_PROCEDURE_TASKS)),
            col(TaskRow.state) == TaskState.OPEN,
        )
        .order_by(col(TaskRow.due_on), col(TaskRow.pathway_id))
    )
    events = []
    for task in session.exec(stmt).all():
        booking, title = _PROCEDURE_TASKS[TaskKind(task.kind)]
        on = _booked_on(session, task.pathway_id, booking) or task.due_on
        if not today <= on <= until:
            continue
        events.append(
            _event(
                uid=f"{task.pathway_id}-{task.id}",
                on=on,
                summary=f"{title}: {task.pathway_id}",
                description=f"Pathway {task.pathway_id}; record by {task.due_on} (task {task.id})",
                category=PROCEDURES,
                now=now,
            )
        )
    return events


def _booked_on(session: Session, pathway_id: str, booking: str) -> date | None:
    stmt = (
        select(OutcomeRow)
        .where(col(OutcomeRow.pathway_id) == pathway_id, col(OutcomeRow.kind) == booking)
        .order_by(col(OutcomeRow.recorded_at).desc(), col(OutcomeRow.id).desc())
        .limit(1)
    )
    latest = session.exec(stmt).first()
    value = latest.data.get("scheduled_on") if latest else None
    return date.fromisoformat(value) if isinstance(value, str) else None


def _visits(session: Session, today: date, until: date, now: datetime) -> list[Event]:
    stmt = (
        select(VisitRow)
        .where(
            col(VisitRow.state) == VisitState.SCHEDULED,
            col(VisitRow.due_on) >= today,
            col(VisitRow.due_on) <= until,
        )
        .order_by(col(VisitRow.due_on), col(VisitRow.pathway_id))
    )
    return [
        _event(
            uid=f"{v.pathway_id}-visit-{v.id}",
            on=v.due_on,
            summary=f"Follow-up {v.code} ({v.kind}): {v.pathway_id}",
            description=(
                f"Pathway {v.pathway_id}, treatment {v.treatment_number}, visit {v.code}; "
                f"on time within {v.window_days} days either side"
            ),
            category=VISITS,
            now=now,
        )
        for v in session.exec(stmt).all()
    ]


def _event(
    *, uid: str, on: date, summary: str, description: str, category: str, now: datetime
) -> Event:
    event = Event()
    event.add("uid", f"{uid}@{UID_DOMAIN}")
    event.add("dtstamp", now.astimezone(UTC))
    event.add("dtstart", on)
    event.add("dtend", on + timedelta(days=1))
    event.add("summary", summary)
    event.add("description", description)
    event.add("categories", [category])
    event.add("transp", "TRANSPARENT")
    return event

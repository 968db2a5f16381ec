"""The delivery loop's database work (blocking: called through asyncio.to_thread).

Each step is its own committed transaction, and every state change is a conditional UPDATE,
so several delivery processes on one database never claim the same send twice within a lease.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from models.notifications import (
    AckRow,
    DeliveryRow,
    DeliveryState,
    NotificationRow,
    NotificationState,
)
from models.tables import OutboxRow, PatientRow
from models.vocab import MessageKind
from notifications.messages import Message

# Messages of the escalation ladder: an acknowledgement of the task stops them.
LADDER_KINDS = frozenset({MessageKind.OVERDUE, MessageKind.ESCALATION, MessageKind.TIMEOUT})


def utc(dt: datetime) -> datetime:
    """An aware UTC datetime (SQLite returns naive ones; everything stored is UTC)."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def outbox_key(outbox_id: str, send_at: datetime) -> str:
    """The idempotency key of one arming of an outbox alarm."""
    return f"{outbox_id}@{utc(send_at):%Y%m%dT%H%M%SZ}"


# ------------------------------------------------------------------------------ intake


def ingest_outbox(engine: Engine, now: datetime, limit: int) -> int:
    """Copy due, undelivered outbox rows not yet taken into notifications; how many."""
    taken = sa.exists().where(
        col(NotificationRow.outbox_id) == col(OutboxRow.id),
        col(NotificationRow.send_at) == col(OutboxRow.send_at),
    )
    stmt = (
        select(OutboxRow)
        .where(col(OutboxRow.delivered_at).is_(None), col(OutboxRow.send_at) <= now, ~taken)
        .order_by(col(OutboxRow.send_at))
        .limit(limit)
    )
    with Session(engine) as session:
        rows = list(session.exec(stmt).all())
        added = 0
        for row in rows:
            note = NotificationRow(
                key=outbox_key(row.id, row.send_at),
                source="outbox",
                outbox_id=row.id,
                pathway_id=row.pathway_id,
                task_id=row.task_id,
                recipient_role=row.recipient_role,
                kind=row.kind,
                due_on=row.due_on,
                subject=row.subject,
                send_at=utc(row.send_at),
                state=NotificationState.NEW,
                created_at=now,
            )
            added += _insert_once(session, note)
        session.commit()
    return added


def add_notification(engine: Engine, note: NotificationRow) -> bool:
    """Queue a message that is not in the outbox (a digest); False if its key exists."""
    with Session(engine) as session:
        added = _insert_once(session, note)
        session.commit()
    return bool(added)


def _insert_once(session: Session, row: NotificationRow) -> int:
    # A savepoint per row: a concurrent loop that inserted it first is not an error.
    try:
        with session.begin_nested():
            session.add(row)
        return 1
    except IntegrityError:
        return 0


def route_new(engine: Engine, routes: dict[str, list[str]], now: datetime, limit: int) -> int:
    """Give due new notifications one pending delivery per channel of their role."""
    stmt = (
        select(NotificationRow)
        .where(
            col(NotificationRow.state) == NotificationState.NEW,
            col(NotificationRow.send_at) <= now,
        )
        .order_by(col(NotificationRow.send_at))
        .limit(limit)
    )
    routed = 0
    with Session(engine) as session:
        for note in session.exec(stmt).all():
            channels = routes.get(note.recipient_role, [])
            for channel in channels:
                session.add(
                    DeliveryRow(
                        key=note.key,
                        channel=channel,
                        state=DeliveryState.PENDING,
                        next_attempt_at=now,
                        updated_at=now,
                    )
                )
            note.state = NotificationState.ROUTED if channels else NotificationState.UNROUTABLE
            note.routed_at = now
            session.add(note)
            routed += 1
        session.commit()
    return routed


# ------------------------------------------------------------------------------ sending


@dataclass(frozen=True)
class Candidate:
    """A delivery that may be claimed now."""

    key: str
    channel: str
    state: str


@dataclass(frozen=True)
class Claim:
    """A delivery this process holds the lease on; ``resend`` if a previous lease expired.

    ``accepted``: the previous holder's send was taken by the receiver before it died, so this
    one only records it as sent and sends nothing.
    """

    key: str
    channel: str
    attempt: int
    resend: bool
    message: Message
    accepted: bool = False


def candidates(engine: Engine, now: datetime, limit: int) -> list[Candidate]:
    """Pending deliveries whose time has come, and sends whose lease has expired."""
    due = sa.or_(
        sa.and_(
            col(DeliveryRow.state) == DeliveryState.PENDING,
            col(DeliveryRow.next_attempt_at) <= now,
        ),
        sa.and_(
            col(DeliveryRow.state) == DeliveryState.SENDING,
            col(DeliveryRow.lease_until) < now,
        ),
    )
    stmt = select(DeliveryRow).where(due).order_by(col(DeliveryRow.next_attempt_at)).limit(limit)
    with Session(engine) as session:
        return [Candidate(r.key, r.channel, r.state) for r in session.exec(stmt).all()]


def claim(
    engine: Engine,
    candidate: Candidate,
    *,
    owner: str,
    now: datetime,
    lease: timedelta,
    with_patient: bool,
) -> Claim | None:
    """Mark a delivery "sending" under a lease, committed before anything is sent.

    Returns None if another process claimed it first, or if the message is no longer wanted
    (then it is marked suppressed, with the reason, rather than dropped).
    """
    with Session(engine) as session:
        note = session.get(NotificationRow, candidate.key)
        assert note is not None
        reason = _unwanted(session, note)
        if reason is not None:
            _suppress(session, note, reason, now)
            session.commit()
            return None
        was_sending = candidate.state == DeliveryState.SENDING
        current = session.get(DeliveryRow, (candidate.key, candidate.channel))
        accepted = was_sending and current is not None and current.sent_at is not None
        condition = (
            col(DeliveryRow.lease_until) < now
            if was_sending
            else col(DeliveryRow.next_attempt_at) <= now
        )
        result = session.execute(
            sa.update(DeliveryRow)
            .where(
                col(DeliveryRow.key) == candidate.key,
                col(DeliveryRow.channel) == candidate.channel,
                col(DeliveryRow.state) == candidate.state,
                condition,
            )
            .values(
                state=DeliveryState.SENDING,
                lease_until=now + lease,
                lease_owner=owner,
                attempts=col(DeliveryRow.attempts) + int(not accepted),
                resends=col(DeliveryRow.resends) + int(was_sending and not accepted),
                updated_at=now,
            )
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            session.rollback()
            return None
        if note.outbox_id is not None and not accepted:
            session.execute(
                sa.update(OutboxRow)
                .where(col(OutboxRow.id) == note.outbox_id)
                .values(attempts=col(OutboxRow.attempts) + 1)
            )
        row = session.get(DeliveryRow, (candidate.key, candidate.channel))
        assert row is not None
        message = _message(session, note, with_patient)
        session.commit()
        return Claim(candidate.key, candidate.channel, row.attempts, was_sending, message, accepted)


def _unwanted(session: Session, note: NotificationRow) -> str | None:
    """Why a message should no longer go out, if it should not."""
    if note.pathway_id and note.task_id and note.kind in LADDER_KINDS:
        acked = session.exec(
            select(AckRow).where(
                col(AckRow.pathway_id) == note.pathway_id,
                col(AckRow.task_id) == note.task_id,
            )
        ).all()
        # An ack covers the due date it was given for: a re-dated task starts a new ladder.
        if any(a.due_on is None or a.due_on == note.due_on for a in acked):
            return "acknowledged"
    if note.outbox_id is not None:
        current = session.get(OutboxRow, note.outbox_id)
        if current is not None and utc(current.send_at) != utc(note.send_at):
            return "superseded: the task was re-dated"
    return None


def _suppress(session: Session, note: NotificationRow, reason: str, now: datetime) -> None:
    note.state = NotificationState.SUPPRESSED
    session.add(note)
    session.execute(
        sa.update(DeliveryRow)
        .where(
            col(DeliveryRow.key) == note.key,
            col(DeliveryRow.state).in_([DeliveryState.PENDING, DeliveryState.SENDING]),
        )
        .values(state=DeliveryState.SUPPRESSED, last_error=reason, updated_at=now)
    )


def _message(session: Session, note: NotificationRow, with_patient: bool) -> Message:
    name = None
    if with_patient and note.pathway_id:
        patient = session.get(PatientRow, note.pathway_id)
        if patient is not None:
            name = f"{patient.given_name} {patient.family_name}"
    return Message(
        key=note.key,
        kind=note.kind,
        recipient_role=note.recipient_role,
        subject=note.subject,
        pathway_id=note.pathway_id,
        task_id=note.task_id,
        due_on=note.due_on,
        send_at=utc(note.send_at),
        body=note.body,
        patient_name=name,
    )


def record_accepted(engine: Engine, key: str, channel: str, owner: str, now: datetime) -> None:
    """The receiver has taken the message: one small committed write, made before anything
    else (mark_sent's locking, the SMTP QUIT), that a reclaim after a crash checks."""
    with Session(engine) as session:
        session.execute(
            sa.update(DeliveryRow)
            .where(
                col(DeliveryRow.key) == key,
                col(DeliveryRow.channel) == channel,
                col(DeliveryRow.state) == DeliveryState.SENDING,
                col(DeliveryRow.lease_owner) == owner,
            )
            .values(sent_at=now)
        )
        session.commit()


def mark_sent(engine: Engine, key: str, channel: str, now: datetime) -> None:
    """Record a successful send; the outbox row is delivered once every channel has sent."""
    with Session(engine) as session:
        # Lock the message first: the channels of one message finish concurrently, and the
        # last to finish must see the others' "sent" to mark the outbox row delivered.
        note = session.exec(
            select(NotificationRow).where(col(NotificationRow.key) == key).with_for_update()
        ).one_or_none()
        session.execute(
            sa.update(DeliveryRow)
            .where(col(DeliveryRow.key) == key, col(DeliveryRow.channel) == channel)
            .values(
                state=DeliveryState.SENT,
                # The acceptance's time if it was recorded (perhaps by a process since dead).
                sent_at=sa.func.coalesce(col(DeliveryRow.sent_at), now),
                lease_until=None,
                last_error=None,
                updated_at=now,
            )
        )
        states = session.exec(select(DeliveryRow.state).where(col(DeliveryRow.key) == key)).all()
        if note is not None and note.outbox_id and all(s == DeliveryState.SENT for s in states):
            session.execute(
                sa.update(OutboxRow)
                .where(
                    col(OutboxRow.id) == note.outbox_id,
                    col(OutboxRow.send_at) == note.send_at,
                    col(OutboxRow.delivered_at).is_(None),
                )
                .values(delivered_at=now)
            )
        session.commit()


def mark_failed(
    engine: Engine,
    claimed: Claim,
    *,
    owner: str,
    now: datetime,
    error: str,
    dead: bool,
    retry_at: datetime,
) -> None:
    """Record a failed send: pending again at ``retry_at``, or a dead letter."""
    values: dict[str, object] = {
        "lease_until": None,
        "last_error": error[:500],
        "updated_at": now,
    }
    if dead:
        values["state"] = DeliveryState.DEAD
    else:
        values.update(state=DeliveryState.PENDING, next_attempt_at=retry_at)
    with Session(engine) as session:
        # Only while the lease is ours: if it expired and another process took the send
        # over, its outcome is the one that counts.
        session.execute(
            sa.update(DeliveryRow)
            .where(
                col(DeliveryRow.key) == claimed.key,
                col(DeliveryRow.channel) == claimed.channel,
                col(DeliveryRow.state) == DeliveryState.SENDING,
                col(DeliveryRow.lease_owner) == owner,
            )
            .values(**values)
        )
        session.commit()


# ------------------------------------------------------------------------------ dead letters


@dataclass(frozen=True)
class DeadLetter:
    """A message that one channel gave up on."""

    key: str
    channel: str
    pathway_id: str | None
    kind: str
    recipient_role: str
    attempts: int
    last_error: str | None
    updated_at: datetime


def count_dead_letters(engine: Engine) -> int:
    """How many deliveries are dead letters (for the ops dashboard)."""
    stmt = sa.select(sa.func.count()).where(col(DeliveryRow.state) == DeliveryState.DEAD)
    with engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def dead_letters(engine: Engine, limit: int = 200) -> list[DeadLetter]:
    """The dead letters, most recent first."""
    stmt = (
        select(DeliveryRow, NotificationRow)
        .join(NotificationRow, col(NotificationRow.key) == col(DeliveryRow.key))
        .where(col(DeliveryRow.state) == DeliveryState.DEAD)
        .order_by(col(DeliveryRow.updated_at).desc())
        .limit(limit)
    )
    with Session(engine) as session:
        return [
            DeadLetter(
                key=d.key,
                channel=d.channel,
                pathway_id=n.pathway_id,
                kind=n.kind,
                recipient_role=n.recipient_role,
                attempts=d.attempts,
                last_error=d.last_error,
                updated_at=utc(d.updated_at),
            )
            for d, n in session.exec(stmt).all()
        ]


def retry_dead_letters(
    engine: Engine, now: datetime, keys: Iterable[str] | None = None, channel: str | None = None
) -> int:
    """Put dead letters back in the queue with a fresh attempt budget; None = all of them."""
    stmt = sa.update(DeliveryRow).where(col(DeliveryRow.state) == DeliveryState.DEAD)
    if keys is not None:
        stmt = stmt.where(col(DeliveryRow.key).in_(list(keys)))
    if channel is not None:
        stmt = stmt.where(col(DeliveryRow.channel) == channel)
    stmt = stmt.values(state=DeliveryState.PENDING, attempts=0, next_attempt_at=now, updated_at=now)
    with engine.begin() as conn:
        return int(conn.execute(stmt).rowcount)


def delivery_counts(engine: Engine) -> dict[str, int]:
    """Deliveries by state (pending, sending, sent, dead, suppressed): for the dashboard."""
    stmt = sa.select(col(DeliveryRow.state), sa.func.count()).group_by(col(DeliveryRow.state))
    with engine.connect() as conn:
        return {state: int(n) for state, n in conn.execute(stmt).all()}

"""Idempotency keys: a retried request is answered once, from the first answer.

Temporal already dedupes Updates by id within a run; this table adds what it cannot: the
first answer after the pathway has ended or continued as new, and a refusal when a key comes
back with a different request.
"""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Engine, delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from models.users import IdempotencyKeyRow

HEADER = "Idempotency-Key"
FORM_FIELD = "idempotency_key"


class Seen(StrEnum):
    """What a key's claim found."""

    NEW = "new"  # first use: go ahead
    PENDING = "pending"  # same request, no answer recorded yet (in flight, or it timed out)
    DONE = "done"  # same request, answered: return ``result``
    OTHER = "other"  # the key was used for a different request: refuse


@dataclass(frozen=True)
class Claim:
    """The outcome of claiming a key, with the recorded answer when there is one."""

    seen: Seen
    result: str | None = None


def claim(engine: Engine, scope: str, key: str, request: str, digest: str, now: datetime) -> Claim:
    """Record the key for this request unless it is already recorded; say what was found."""
    with Session(engine) as session:
        session.add(
            IdempotencyKeyRow(scope=scope, key=key, request=request, digest=digest, created_at=now)
        )
        try:
            session.commit()
            return Claim(Seen.NEW)
        except IntegrityError:
            # Another request (the first attempt, or a concurrent double-click) has it.
            session.rollback()
        row = session.get(IdempotencyKeyRow, (scope, key))
    if row is None:  # released in between: the earlier attempt was refused; try afresh
        return claim(engine, scope, key, request, digest, now)
    if row.request != request or row.digest != digest:
        return Claim(Seen.OTHER)
    if row.result is None:
        return Claim(Seen.PENDING)
    return Claim(Seen.DONE, row.result)


def complete(engine: Engine, scope: str, key: str, result: str, now: datetime) -> None:
    """Keep the answer a retry will get."""
    with Session(engine) as session:
        row = session.get(IdempotencyKeyRow, (scope, key))
        if row is None or row.result is not None:
            return
        row.result, row.completed_at = result, now
        session.add(row)
        session.commit()


def release(engine: Engine, scope: str, key: str) -> None:
    """Forget an unanswered key: the request was refused and changed nothing, so the key may
    carry a corrected request (a form resubmitted after fixing a field keeps its nonce)."""
    with Session(engine) as session:
        session.exec(
            delete(IdempotencyKeyRow).where(
                col(IdempotencyKeyRow.scope) == scope,
                col(IdempotencyKeyRow.key) == key,
                col(IdempotencyKeyRow.result).is_(None),
            )
        )
        session.commit()

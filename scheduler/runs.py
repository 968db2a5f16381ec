"""Once per period: a job claims (job, period) in the database before it does anything.

The lock already keeps a second scheduler away; this also covers a takeover in the middle
of a run, and APScheduler firing a misfired job again on the new active instance.
"""

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from models.notifications import SchedulerRunRow

RUNNING, OK, FAILED = "running", "ok", "failed"
# A run still "running" after this long died with its process; the period may run again.
STALE_AFTER = timedelta(hours=1)


def claim_period(engine: Engine, job: str, period: str, instance: str, now: datetime) -> bool:
    """True if this instance may run ``job`` for ``period`` (nobody has, or it failed)."""
    try:
        with Session(engine) as session:
            session.add(
                SchedulerRunRow(
                    job=job, period=period, instance=instance, state=RUNNING, started_at=now
                )
            )
            session.commit()
            return True
    except IntegrityError:
        pass
    retry = sa.or_(
        col(SchedulerRunRow.state) == FAILED,
        sa.and_(
            col(SchedulerRunRow.state) == RUNNING,
            col(SchedulerRunRow.started_at) < now - STALE_AFTER,
        ),
    )
    stmt = (
        sa.update(SchedulerRunRow)
        .where(col(SchedulerRunRow.job) == job, col(SchedulerRunRow.period) == period, retry)
        .values(state=RUNNING, instance=instance, started_at=now, finished_at=None)
    )
    with engine.begin() as conn:
        return int(conn.execute(stmt).rowcount) == 1


def finish_period(
    engine: Engine, job: str, period: str, state: str, now: datetime, summary: dict[str, Any]
) -> None:
    """Record how the run ended."""
    stmt = (
        sa.update(SchedulerRunRow)
        .where(col(SchedulerRunRow.job) == job, col(SchedulerRunRow.period) == period)
        .values(state=state, finished_at=now, summary=summary)
    )
    with engine.begin() as conn:
        conn.execute(stmt)


def runs(engine: Engine, job: str | None = None) -> list[SchedulerRunRow]:
    """Recorded runs, newest first (for the ops dashboard and tests)."""
    stmt = sa.select(SchedulerRunRow).order_by(col(SchedulerRunRow.started_at).desc())
    if job is not None:
        stmt = stmt.where(col(SchedulerRunRow.job) == job)
    with Session(engine) as session:
        return list(session.scalars(stmt).all())

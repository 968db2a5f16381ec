"""The weekly waiting-list snapshot: open pathways by PTL bucket of days since referral."""

from collections import Counter
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from core.clock import local_date
from models.notifications import WaitingListSnapshotRow
from models.tables import PathwayRow
from models.vocab import Stage

# (label, first day, last day) of each Patient Tracking List bucket; None: open-ended.
BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("0-28", 0, 28),
    ("29-62", 29, 62),
    ("63-104", 63, 104),
    (">104", 105, None),
)
OPEN_STAGES = tuple(s for s in Stage if not s.is_terminal)
PRE_TREATMENT = tuple(s for s in OPEN_STAGES if s != Stage.FOLLOW_UP)


def bucket_of(days: int) -> str:
    """The PTL bucket of a wait of ``days`` days."""
    for label, first, last in BUCKETS:
        if days >= first and (last is None or days <= last):
            return label
    return BUCKETS[0][0]  # a referral dated in the future: counted as new


def period_of(day: date) -> str:
    """The ISO week a snapshot belongs to, e.g. 2026-W48."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def take_snapshot(engine: Engine, today: date, now: datetime) -> dict[str, int]:
    """Count open pathways by (centre, stage, bucket) into this week's snapshot (replacing any
    earlier one of the same week); returns the totals per bucket."""
    period = period_of(today)
    stmt = select(PathwayRow.centre, PathwayRow.stage, PathwayRow.referred_at).where(
        col(PathwayRow.stage).in_(OPEN_STAGES)
    )
    counts: Counter[tuple[str, str, str]] = Counter()
    with Session(engine) as session:
        for centre, stage, referred_at in session.exec(stmt).all():
            counts[(centre, stage, bucket_of((today - local_date(referred_at)).days))] += 1
        session.execute(
            sa.delete(WaitingListSnapshotRow).where(col(WaitingListSnapshotRow.period) == period)
        )
        for (centre, stage, bucket), n in sorted(counts.items()):
            session.add(
                WaitingListSnapshotRow(
                    period=period, centre=centre, stage=stage, bucket=bucket, count=n, taken_at=now
                )
            )
        session.commit()
    totals = {label: 0 for label, _, _ in BUCKETS}
    for (_, _, bucket), n in counts.items():
        totals[bucket] += n
    return totals


def waiting_list(
    engine: Engine,
    period: str | None = None,
    *,
    centre: str | None = None,
    pre_treatment_only: bool = True,
) -> dict[str, int]:
    """Bucket totals of a snapshot (the latest by default), for the dashboard.

    ``pre_treatment_only`` counts patients still waiting for SIRT (not those in follow-up).
    """
    with Session(engine) as session:
        if period is None:
            period = session.exec(select(sa.func.max(WaitingListSnapshotRow.period))).one_or_none()
        stmt = select(WaitingListSnapshotRow).where(col(WaitingListSnapshotRow.period) == period)
        if centre is not None:
            stmt = stmt.where(col(WaitingListSnapshotRow.centre) == centre)
        if pre_treatment_only:
            stmt = stmt.where(col(WaitingListSnapshotRow.stage).in_(PRE_TREATMENT))
        rows = session.exec(stmt).all()
    totals = {label: 0 for label, _, _ in BUCKETS}
    for row in rows:
        totals[row.bucket] += row.count
    return totals

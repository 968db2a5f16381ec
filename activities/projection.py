"""Writes a pathway's changes into the SQL read model, idempotently."""

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session
from temporalio import activity

from models.state import ProjectionBatch
from models.tables import (
    OutboxRow,
    OutcomeRow,
    PathwayRow,
    PatientRow,
    ProjectionLogRow,
    StageHistoryRow,
    TaskRow,
    VisitRow,
    WaitingClockRow,
)
from outbound.events import add_events


def apply_batch(session: Session, batch: ProjectionBatch) -> bool:
    """Apply one batch inside the caller's transaction; False if it was applied before."""
    if session.get(ProjectionLogRow, (batch.pathway_id, batch.seq)) is not None:
        return False
    pid = batch.pathway_id
    row = session.get(PathwayRow, pid)
    # Only a newer batch may overwrite the summary, so a late retry never rolls it back.
    if row is None or row.last_seq < batch.seq:
        session.merge(
            PathwayRow(
                id=pid, last_seq=batch.seq, updated_at=batch.at, **batch.summary.model_dump()
            )
        )
        session.flush()
    if batch.patient is not None:
        session.merge(PatientRow(pathway_id=pid, **batch.patient.model_dump()))
    for change in batch.stage_changes:
        session.merge(
            StageHistoryRow(
                pathway_id=pid,
                ordinal=change.ordinal,
                stage=change.stage,
                entered_at=change.at,
                reason=change.reason,
            )
        )
    for task in batch.tasks:
        session.merge(TaskRow(pathway_id=pid, **task.model_dump(exclude={"fired"})))
    for visit in batch.visits:
        session.merge(VisitRow(pathway_id=pid, **visit.model_dump(exclude={"task_id"})))
    for outcome in batch.outcomes:
        session.merge(OutcomeRow(pathway_id=pid, **outcome.model_dump()))
    for message in batch.outbox:
        session.merge(OutboxRow(pathway_id=pid, **message.model_dump()))
    for key, clock in batch.clocks.items():
        session.merge(
            WaitingClockRow(
                pathway_id=pid,
                key=key,
                kind=clock.kind,
                start_on=clock.start,
                stop_on=clock.stop,
                pauses=[p.model_dump(mode="json") for p in clock.pauses],
            )
        )
    # Events go out only for what this transaction commits (outbound/publish.py sends them).
    add_events(session, batch)
    session.add(ProjectionLogRow(pathway_id=pid, seq=batch.seq, applied_at=batch.at))
    return True


class ProjectionActivities:
    """Activities bound to one read-model engine (sync: sqlmodel sessions block)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn(name="project_pathway")
    def project_pathway(self, batch: ProjectionBatch) -> bool:
        """Apply a batch in one transaction; True if it changed the read model."""
        try:
            with Session(self._engine) as session:
                applied = apply_batch(session, batch)
                session.commit()
                return applied
        except IntegrityError:
            # A concurrent attempt applied the same batch first: that is success.
            with Session(self._engine) as session:
                if session.get(ProjectionLogRow, (batch.pathway_id, batch.seq)) is not None:
                    return False
            raise

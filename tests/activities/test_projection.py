"""The read-model projection is idempotent: a retried activity changes nothing."""

from datetime import UTC, date, datetime

from sqlalchemy import text
from sqlmodel import Session
from temporalio.testing import ActivityEnvironment

from activities.projection import ProjectionActivities
from core.db import get_engine
from models.state import (
    OutboxMessage,
    OutcomeRecord,
    PathwaySummary,
    ProjectionBatch,
    StageChange,
    Task,
)
from models.tables import PathwayRow
from models.vocab import MessageKind, Role, Stage, TaskKind
from tests import payloads

AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
TABLES = {
    "pathway": "id",
    "task": "pathway_id",
    "stage_history": "pathway_id",
    "outcome": "pathway_id",
    "outbox": "pathway_id",
}


def batch(pathway_id: str, seq: int, stage: Stage) -> ProjectionBatch:
    task = Task(
        id="mdt_decision-1",
        kind=TaskKind.MDT_DECISION,
        role=Role.MDT_CLINICIAN,
        title="MDT selection decision",
        opened_at=AT,
        due_on=date(2026, 3, 16),
    )
    return ProjectionBatch(
        pathway_id=pathway_id,
        seq=seq,
        at=AT,
        summary=PathwaySummary(
            stage=stage,
            stage_entered_at=AT,
            referred_at=AT,
            centre="LEEDS",
            next_due_on=task.due_on,
            overdue=False,
            treatment_number=0,
            treatment_on=None,
            cumulative_lung_dose_gy=0,
            exit_reason=None,
        ),
        patient=payloads.referral().patient,
        stage_changes=[StageChange(ordinal=seq - 1, stage=stage, at=AT)],
        tasks=[task],
        outcomes=[OutcomeRecord(id=f"o{seq}", kind="referral", recorded_at=AT, data={"x": 1})],
        outbox=[
            OutboxMessage(
                id=f"{pathway_id}:{task.id}:reminder:{seq}",
                recipient_role=Role.MDT_CLINICIAN,
                kind=MessageKind.REMINDER,
                task_id=task.id,
                due_on=task.due_on,
                subject="Reminder",
                send_at=AT,
                created_at=AT,
            )
        ],
    )


def counts(url: str, pathway_id: str) -> dict[str, int]:
    with get_engine(url).connect() as conn:
        return {
            table: conn.execute(
                text(f"SELECT count(*) FROM {table} WHERE {key} = :p"), {"p": pathway_id}
            ).scalar_one()
            for table, key in TABLES.items()
        }


async def test_a_replayed_projection_creates_no_duplicate_rows(any_db_url: str) -> None:
    activities = ProjectionActivities(get_engine(any_db_url))
    env = ActivityEnvironment()
    first = batch("pathway-idem-" + any_db_url[:6], 1, Stage.REFERRED)
    assert env.run(activities.project_pathway, first) is True
    once = counts(any_db_url, first.pathway_id)
    assert once == {"pathway": 1, "task": 1, "stage_history": 1, "outcome": 1, "outbox": 1}
    assert env.run(activities.project_pathway, first) is False
    assert counts(any_db_url, first.pathway_id) == once


async def test_a_late_retry_never_rolls_the_pathway_back(any_db_url: str) -> None:
    activities = ProjectionActivities(get_engine(any_db_url))
    env = ActivityEnvironment()
    pid = "pathway-late-" + any_db_url[:6]
    env.run(activities.project_pathway, batch(pid, 2, Stage.MDT_REVIEW))
    env.run(activities.project_pathway, batch(pid, 1, Stage.REFERRED))
    with Session(get_engine(any_db_url)) as session:
        row = session.get(PathwayRow, pid)
        assert row is not None and (row.stage, row.last_seq) == ("MDT_REVIEW", 2)

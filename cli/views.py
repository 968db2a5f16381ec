"""What `sirt status` and `sirt list` show, read from the SQL read model (never Temporal)."""

from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from models.tables import PathwayRow, StageHistoryRow, TaskRow, VisitRow
from models.vocab import Stage, TaskState

# Pathway columns shown by both views; the patient table is never read here.
_PATHWAY_FIELDS = (
    "id",
    "centre",
    "stage",
    "stage_entered_at",
    "referred_at",
    "next_due_on",
    "overdue",
    "treatment_number",
    "treatment_on",
    "cumulative_lung_dose_gy",
    "exit_reason",
    "updated_at",
)
_TASK_FIELDS = ("id", "kind", "role", "title", "due_on", "not_before", "overdue", "detail")
_VISIT_FIELDS = (
    "id",
    "code",
    "kind",
    "treatment_number",
    "due_on",
    "window_days",
    "state",
    "recorded_on",
)
_HISTORY_FIELDS = ("ordinal", "stage", "entered_at", "reason")


def _pick(row: object, fields: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(row, name) for name in fields}


def pathway_status(engine: Engine, pathway_id: str) -> dict[str, Any] | None:
    """One pathway with its open tasks, visits and stage history; None if unknown."""
    with Session(engine) as session:
        row = session.get(PathwayRow, pathway_id)
        if row is None:
            return None
        tasks = session.exec(
            select(TaskRow)
            .where(col(TaskRow.pathway_id) == pathway_id, col(TaskRow.state) == TaskState.OPEN)
            .order_by(col(TaskRow.due_on), col(TaskRow.id))
        ).all()
        visits = session.exec(
            select(VisitRow)
            .where(col(VisitRow.pathway_id) == pathway_id)
            .order_by(col(VisitRow.due_on), col(VisitRow.id))
        ).all()
        history = session.exec(
            select(StageHistoryRow)
            .where(col(StageHistoryRow.pathway_id) == pathway_id)
            .order_by(col(StageHistoryRow.ordinal))
        ).all()
        return {
            **_pick(row, _PATHWAY_FIELDS),
            "open_tasks": [_pick(t, _TASK_FIELDS) for t in tasks],
            "visits": [_pick(v, _VISIT_FIELDS) for v in visits],
            "history": [_pick(h, _HISTORY_FIELDS) for h in history],
        }


def pathway_list(
    engine: Engine,
    *,
    stage: Stage | None = None,
    overdue_only: bool = False,
    centre: str | None = None,
) -> list[dict[str, Any]]:
    """Pathways, overdue first, then by next due date (none last), then by id."""
    stmt = select(PathwayRow)
    if stage is not None:
        stmt = stmt.where(col(PathwayRow.stage) == stage.value)
    if overdue_only:
        stmt = stmt.where(col(PathwayRow.overdue).is_(True))
    if centre is not None:
        stmt = stmt.where(col(PathwayRow.centre) == centre)
    stmt = stmt.order_by(
        col(PathwayRow.overdue).desc(),
        col(PathwayRow.next_due_on).is_(None),
        col(PathwayRow.next_due_on),
        col(PathwayRow.id),
    )
    with Session(engine) as session:
        return [_pick(row, _PATHWAY_FIELDS) for row in session.exec(stmt).all()]

"""Read-model queries for lists, worklists and timelines. Synchronous: run in a thread pool.

Identity lives in its own table; it is joined only when the caller may see it.
"""

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Engine, case, func
from sqlmodel import Session, col, select

from api.schemas import (
    AuditEventPublic,
    OutcomePublic,
    PathwayDetail,
    PathwayPage,
    PathwayPublic,
    PatientPublic,
    StageChangePublic,
    StageCount,
    Stats,
    TaskPublic,
    VisitPublic,
    WorklistItem,
)
from clinical.free_text import identifier_hits
from core.csvsafe import write_rows
from core.redact import withheld_text, withhold
from models.tables import OutcomeRow, PathwayRow, PatientRow, StageHistoryRow, TaskRow, VisitRow
from models.users import AuditEventRow, TaskSnoozeRow
from models.vocab import Role, Stage, TaskState
from notifications.store import utc

# The step that completes each kind of task (None: completed by time, not by a form).
TASK_STEP: dict[str, str] = {
    "triage_referral": "triage",
    "mdt_decision": "mdt-decision",
    "schedule_workup": "schedule-workup",
    "record_workup": "workup",
    "dosimetry_plan": "dosimetry-plan",
    "schedule_treatment": "schedule-treatment",
    "record_treatment": "treatment",
    "follow_up_visit": "follow-up-visit",
    "chase_missed_visit": "close-task",
    "ltfu_review": "ltfu-review",
    "reild_review": "reild-review",
}

_PATHWAY_FIELDS = tuple(f for f in PathwayPublic.model_fields if f != "patient")


def _patient(row: PatientRow | None) -> PatientPublic | None:
    return PatientPublic.model_validate(row, from_attributes=True) if row else None


def _pathway(
    row: PathwayRow, patient: PatientRow | None, *, with_identity: bool = True
) -> dict[str, Any]:
    data = {name: getattr(row, name) for name in _PATHWAY_FIELDS}
    data["patient"] = _patient(patient)
    if not with_identity:
        data["exit_reason"] = withheld_text(data["exit_reason"])
    return data


def pathway_exists(engine: Engine, pathway_id: str) -> bool:
    """Whether the read model knows this pathway."""
    with Session(engine) as session:
        return session.get(PathwayRow, pathway_id) is not None


def pathway_row(engine: Engine, pathway_id: str) -> PathwayRow | None:
    """The pathway's read-model row, None if unknown."""
    with Session(engine) as session:
        return session.get(PathwayRow, pathway_id)


def list_pathways(
    engine: Engine,
    *,
    with_identity: bool,
    today: date,
    stage: Stage | None = None,
    overdue: bool | None = None,
    due_within_days: int | None = None,
    role: Role | None = None,
    limit: int = 50,
    offset: int = 0,
) -> PathwayPage:
    """Pathways matching the filters, overdue first, then by next due date (none last)."""
    filters: list[Any] = []
    if stage is not None:
        filters.append(col(PathwayRow.stage) == stage)
    if overdue is not None:
        filters.append(col(PathwayRow.overdue) == overdue)
    if due_within_days is not None:
        filters.append(col(PathwayRow.next_due_on) <= today + timedelta(days=due_within_days))
    if role is not None:
        open_for_role = select(TaskRow.pathway_id).where(
            col(TaskRow.state) == TaskState.OPEN, col(TaskRow.role) == role
        )
        filters.append(col(PathwayRow.id).in_(open_for_role))
    with Session(engine) as session:
        total = session.exec(select(func.count()).select_from(PathwayRow).where(*filters)).one()
        stmt = (
            select(PathwayRow)
            .where(*filters)
            .order_by(
                col(PathwayRow.overdue).desc(),
                col(PathwayRow.next_due_on).is_(None),
                col(PathwayRow.next_due_on),
                col(PathwayRow.id),
            )
            .limit(limit)
            .offset(offset)
        )
        rows = session.exec(stmt).all()
        patients = _patients(session, [r.id for r in rows]) if with_identity else {}
        items = [
            PathwayPublic(**_pathway(r, patients.get(r.id), with_identity=with_identity))
            for r in rows
        ]
    return PathwayPage(items=items, total=total, limit=limit, offset=offset)


def _patients(session: Session, ids: Sequence[str]) -> dict[str, PatientRow]:
    if not ids:
        return {}
    rows = session.exec(select(PatientRow).where(col(PatientRow.pathway_id).in_(ids))).all()
    return {p.pathway_id: p for p in rows}


def pathway_detail(engine: Engine, pathway_id: str, *, with_identity: bool) -> PathwayDetail | None:
    """One pathway's timeline from the read model; None if unknown."""
    with Session(engine) as session:
        row = session.get(PathwayRow, pathway_id)
        if row is None:
            return None
        patient = session.get(PatientRow, pathway_id) if with_identity else None

        def of(table: Any, *order: Any) -> Sequence[Any]:
            stmt = select(table).where(col(table.pathway_id) == pathway_id).order_by(*order)
            return session.exec(stmt).all()

        history = of(StageHistoryRow, col(StageHistoryRow.ordinal))
        tasks = of(TaskRow, col(TaskRow.opened_at), col(TaskRow.id))
        visits = of(VisitRow, col(VisitRow.due_on), col(VisitRow.id))
        outcomes = of(OutcomeRow, col(OutcomeRow.recorded_at), col(OutcomeRow.id))
        detail = PathwayDetail(
            **_pathway(row, patient, with_identity=with_identity),
            cumulative_lung_dose_gy=row.cumulative_lung_dose_gy,
            history=[StageChangePublic.model_validate(h, from_attributes=True) for h in history],
            tasks=[TaskPublic.model_validate(t, from_attributes=True) for t in tasks],
            visits=[VisitPublic.model_validate(v, from_attributes=True) for v in visits],
            outcomes=[OutcomePublic.model_validate(o, from_attributes=True) for o in outcomes],
        )
    return detail if with_identity else _without_free_text(detail)


def _without_free_text(detail: PathwayDetail) -> PathwayDetail:
    """The timeline as a role without identity (ops, admin) sees it: every free-text field
    withheld, since that is where names and NHS numbers get written."""
    for change in detail.history:
        change.reason = withheld_text(change.reason)
    for task in detail.tasks:
        task.detail = withheld_text(task.detail)
    for outcome in detail.outcomes:
        outcome.data = withhold(outcome.data)
    return detail


def worklist(
    engine: Engine,
    *,
    user_id: int,
    role: Role | None,
    with_identity: bool,
    now: datetime,
    limit: int = 200,
) -> list[WorklistItem]:
    """Open tasks (for ``role``, or all): overdue first, then by due date; snoozed at the end."""
    snoozed = col(TaskSnoozeRow.snoozed_until) > now
    stmt = (
        select(TaskRow, PathwayRow.stage, TaskSnoozeRow.snoozed_until)
        .join(PathwayRow, col(PathwayRow.id) == col(TaskRow.pathway_id))
        .outerjoin(
            TaskSnoozeRow,
            (col(TaskSnoozeRow.pathway_id) == col(TaskRow.pathway_id))
            & (col(TaskSnoozeRow.task_id) == col(TaskRow.id))
            & (col(TaskSnoozeRow.user_id) == user_id),
        )
        .where(col(TaskRow.state) == TaskState.OPEN)
        .order_by(
            case((snoozed, 1), else_=0),
            col(TaskRow.overdue).desc(),
            col(TaskRow.due_on),
            col(TaskRow.pathway_id),
            col(TaskRow.id),
        )
        .limit(limit)
    )
    if role is not None:
        stmt = stmt.where(col(TaskRow.role) == role)
    with Session(engine) as session:
        rows = session.exec(stmt).all()
        patients = _patients(session, [t.pathway_id for t, _, _ in rows]) if with_identity else {}
        items = []
        for task, stage, snoozed_until in rows:
            until = _aware(snoozed_until)
            items.append(
                WorklistItem(
                    **TaskPublic.model_validate(task, from_attributes=True).model_dump(),
                    stage=Stage(stage),
                    step=TASK_STEP.get(task.kind),
                    snoozed_until=until if until is not None and until > now else None,
                    patient=_patient(patients.get(task.pathway_id)),
                )
            )
        return items


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything is stored in UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def open_task(engine: Engine, pathway_id: str, task_id: str) -> TaskRow | None:
    """The task if it exists and is still open."""
    with Session(engine) as session:
        task = session.get(TaskRow, (pathway_id, task_id))
        return task if task is not None and task.state == TaskState.OPEN else None


def snooze(engine: Engine, user_id: int, pathway_id: str, task_id: str, until: datetime) -> None:
    """Snooze (or re-snooze) a task for one user."""
    with Session(engine) as session:
        session.merge(
            TaskSnoozeRow(
                user_id=user_id, pathway_id=pathway_id, task_id=task_id, snoozed_until=until
            )
        )
        session.commit()


def stats(engine: Engine) -> Stats:
    """Counts by stage and overdue, with no patient data."""
    overdue = func.sum(case((col(PathwayRow.overdue), 1), else_=0))
    stmt = select(PathwayRow.stage, func.count(), overdue).group_by(col(PathwayRow.stage))
    with Session(engine) as session:
        rows = session.exec(stmt).all()
    by_stage = {Stage(s): (int(n), int(o or 0)) for s, n, o in rows}
    counts = [
        StageCount(stage=s, pathways=by_stage.get(s, (0, 0))[0], overdue=by_stage.get(s, (0, 0))[1])
        for s in Stage
    ]
    return Stats(
        total=sum(c.pathways for c in counts),
        overdue=sum(c.overdue for c in counts),
        by_stage=counts,
    )


def audit_events(
    engine: Engine, *, pathway_id: str | None, limit: int, offset: int
) -> list[AuditEventPublic]:
    """Audit events, newest first, optionally for one pathway."""
    stmt = select(AuditEventRow).order_by(col(AuditEventRow.id).desc()).limit(limit).offset(offset)
    if pathway_id is not None:
        stmt = stmt.where(col(AuditEventRow.pathway_id) == pathway_id)
    with Session(engine) as session:
        return [
            AuditEventPublic.model_validate(r, from_attributes=True)
            for r in session.exec(stmt).all()
        ]


AUDIT_EXPORT_HEADER = (
    "id",
    "at",
    "user_id",
    "username",
    "role",
    "action",
    "pathway_id",
    "outcome",
    "detail",
)


def audit_export_csv(engine: Engine) -> str:
    """The whole audit trail, oldest first, as CSV (formula-safe cells, UTC ISO times)."""
    stmt = select(AuditEventRow).order_by(col(AuditEventRow.id))
    with Session(engine) as session:
        rows = [
            (
                r.id,
                utc(r.at).isoformat(),
                r.user_id,
                r.username,
                r.role,
                r.action,
                r.pathway_id,
                r.outcome,
                r.detail,
            )
            for r in session.exec(stmt).all()
        ]
    return write_rows(AUDIT_EXPORT_HEADER, rows)


def free_text_identifiers(
    engine: Engine, pathway_id: str, payload: BaseModel
) -> list[tuple[tuple[str | int, ...], str]]:
    """Free-text fields of a step's payload that name this pathway's patient or hold an
    NHS-number pattern (clinical.free_text), as (field path, message)."""
    with Session(engine) as session:
        patient = session.get(PatientRow, pathway_id)
    names = [patient.family_name, patient.given_name] if patient else []
    return identifier_hits(payload.model_dump(mode="json"), names)

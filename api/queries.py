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
    LaterTasks,
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
    Worklist,
    WorklistItem,
)
from api.search import Search, SearchKind
from clinical.clocks import ClockPause, ClockStatus, WaitingClock, clock_status
from clinical.enums import ClockKind
from clinical.free_text import identifier_hits
from core.csvsafe import write_rows
from core.redact import withheld_text, withhold
from models.catalogue import STEP_OF_TASK
from models.referral import Referral
from models.tables import (
    OutcomeRow,
    PathwayRow,
    PatientRow,
    StageHistoryRow,
    TaskRow,
    VisitRow,
    WaitingClockRow,
)
from models.users import AuditEventRow, TaskSnoozeRow
from models.vocab import Role, Stage, TaskState
from notifications.store import utc
from reports.dashboard import (
    CLOCK_STAGES,
    DEFAULT_DASHBOARD,
    DashboardConfig,
    actionable_task,
    horizon_end,
)

# The step that completes each kind of task, from the step catalogue.
TASK_STEP: dict[str, str] = {kind.value: spec.slug for kind, spec in STEP_OF_TASK.items()}

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
    search: Search | None = None,
    limit: int = 50,
    offset: int = 0,
) -> PathwayPage:
    """Pathways matching the filters, overdue first, then by next due date (none last)."""
    filters: list[Any] = [] if search is None else [_matches(search)]
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


def open_pathways_of(engine: Engine, nhs_number: str) -> list[str]:
    """Pathways of this NHS number that have not ended, oldest first."""
    ended = [s.value for s in Stage if s.is_terminal]
    stmt = (
        select(PathwayRow.id)
        .join(PatientRow, col(PatientRow.pathway_id) == col(PathwayRow.id))
        .where(col(PatientRow.nhs_number) == nhs_number, col(PathwayRow.stage).not_in(ended))
        .order_by(col(PathwayRow.referred_at), col(PathwayRow.id))
    )
    with Session(engine) as session:
        return list(session.exec(stmt).all())


def open_duplicate(engine: Engine, referral: Referral, same_referral: str | None) -> str | None:
    """The open pathway a referral would duplicate: the oldest open pathway of its NHS number,
    other than ``same_referral`` (the pathway a keyed referral sent again started). None when
    the referral states why a second pathway is wanted. The API, the pages and the CLI refuse
    a referral by this one rule."""
    if referral.second_pathway_reason:
        return None
    others = [
        p for p in open_pathways_of(engine, referral.patient.nhs_number) if p != same_referral
    ]
    return others[0] if others else None


def duplicate_message(pathway_id: str) -> str:
    """Why a duplicate referral is refused, naming the open pathway."""
    return (
        f"this NHS number already has an open pathway ({pathway_id}): record on that "
        "pathway, or state a reason for a second pathway (for example a new primary)"
    )


def _matches(search: Search) -> Any:
    """The pathways a search term finds; identity is matched in the patient table."""
    if search.kind is SearchKind.PATHWAY_ID:
        return col(PathwayRow.id).startswith(search.text, autoescape=True)
    patient: Any
    if search.kind is SearchKind.NHS_NUMBER:
        patient = col(PatientRow.nhs_number) == search.text
    elif search.kind is SearchKind.DATE_OF_BIRTH:
        patient = col(PatientRow.date_of_birth) == search.day
    else:
        patient = func.lower(col(PatientRow.family_name)).startswith(search.text, autoescape=True)
    return col(PathwayRow.id).in_(select(PatientRow.pathway_id).where(patient))


def _patients(session: Session, ids: Sequence[str]) -> dict[str, PatientRow]:
    if not ids:
        return {}
    rows = session.exec(select(PatientRow).where(col(PatientRow.pathway_id).in_(ids))).all()
    return {p.pathway_id: p for p in rows}


def pathway_detail(
    engine: Engine, pathway_id: str, *, with_identity: bool, today: date | None = None
) -> PathwayDetail | None:
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
            clocks=running_clocks(session, [pathway_id], today).get(pathway_id, [])
            if today is not None
            else [],
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
    today: date,
    horizon_days: int = DEFAULT_DASHBOARD.horizon_days,
    limit: int = 200,
) -> Worklist:
    """Actionable open tasks (for ``role``, or all): overdue first, then by due date; snoozed
    at the end. Tasks beyond the horizon are counted per patient on the list, not listed."""
    config = DashboardConfig(horizon_days=horizon_days)
    actionable = actionable_task(today, horizon_end(today, config))
    mine = [col(TaskRow.role) == role] if role is not None else []
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
        .where(actionable, *mine)
        .order_by(
            case((snoozed, 1), else_=0),
            col(TaskRow.overdue).desc(),
            col(TaskRow.due_on),
            col(TaskRow.pathway_id),
            col(TaskRow.id),
        )
        .limit(limit)
    )
    with Session(engine) as session:
        total = session.exec(select(func.count()).select_from(TaskRow).where(actionable, *mine))
        rows = session.exec(stmt).all()
        ids = sorted({t.pathway_id for t, _, _ in rows})
        patients = _patients(session, ids) if with_identity else {}
        clocks = running_clocks(session, ids, today)
        later = session.exec(
            select(TaskRow.pathway_id, func.count(), func.min(TaskRow.due_on))
            .where(
                col(TaskRow.state) == TaskState.OPEN,
                ~actionable,
                col(TaskRow.pathway_id).in_(ids),
                *mine,
            )
            .group_by(col(TaskRow.pathway_id))
            .order_by(col(TaskRow.pathway_id))
        ).all()
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
                    # Overdue is the pathway's word (its alarm, on working days), not the date's.
                    days_overdue=max(0, (today - task.due_on).days) if task.overdue else 0,
                    clocks=clocks.get(task.pathway_id, []),
                )
            )
        return Worklist(
            role=role,
            horizon_days=horizon_days,
            total=total.one(),
            items=items,
            later=[LaterTasks(pathway_id=p, tasks=n, next_due_on=d) for p, n, d in later],
        )


def running_clocks(
    session: Session, pathway_ids: Sequence[str], today: date
) -> dict[str, list[ClockStatus]]:
    """The running waiting-time clocks of these pathways, as of ``today``: only pathways still
    before treatment, as on the ops dashboard's tracking list."""
    if not pathway_ids:
        return {}
    stmt = (
        select(WaitingClockRow)
        .join(PathwayRow, col(PathwayRow.id) == col(WaitingClockRow.pathway_id))
        .where(
            col(WaitingClockRow.pathway_id).in_(pathway_ids),
            col(WaitingClockRow.stop_on).is_(None),
            col(WaitingClockRow.start_on) <= today,
            col(PathwayRow.stage).in_(CLOCK_STAGES),
        )
        .order_by(col(WaitingClockRow.pathway_id), col(WaitingClockRow.kind))
    )
    out: dict[str, list[ClockStatus]] = {}
    for row in session.exec(stmt).all():
        clock = WaitingClock(
            kind=ClockKind(row.kind),
            start=row.start_on,
            pauses=tuple(ClockPause.model_validate(p) for p in row.pauses),
        )
        status = clock_status(clock, today, DEFAULT_DASHBOARD.clocks)
        out.setdefault(row.pathway_id, []).append(status)
    # The 62-day clock first: it is the one a PTL meeting asks about.
    for statuses in out.values():
        statuses.sort(key=lambda c: -c.target_days)
    return out


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


class LabOffer(BaseModel):
    """Results a lab feed sent inside a pending visit's window, offered to that visit's form."""

    values: dict[str, str]  # form field name (``labs.bilirubin_umol_l``) -> value
    note: str


# External results' markers and the visit form's names for them.
_MARKERS = {"chromogranin_a_ug_l": "cga_ug_l", "hiaa_5_umol_24h": "hiaa_umol_24h"}


def lab_feed_offer(detail: PathwayDetail, visit_code: str) -> LabOffer | None:
    """The lab feed's results for ``visit_code`` (the intake records the visit whose window
    they fall in), newest value of each test winning; None when the feed sent none. The
    clinician still confirms them by saving the visit."""
    values: dict[str, str] = {}
    sources: list[str] = []
    for o in detail.outcomes:  # oldest first: later results overwrite earlier ones
        derived = o.data.get("derived") or {}
        if o.kind != "external_results" or derived.get("visit_code") != visit_code:
            continue
        labs = {f"labs.{k}": v for k, v in (o.data.get("labs") or {}).items()}
        markers = {_MARKERS[k]: o.data.get(k) for k in _MARKERS}
        values |= {k: str(v) for k, v in (labs | markers).items() if v is not None}
        source = f"collected {o.data.get('collected_on')} ({o.data.get('source')})"
        sources += [source] if source not in sources else []
    if not values:
        return None
    note = (
        "From lab feed: " + "; ".join(sources) + ". The results are filled in below; check "
        "them, and save the visit to record them with it."
    )
    return LabOffer(values=values, note=note)

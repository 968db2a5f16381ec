"""Nightly reconciliation: every open pathway's read-model rows against its workflow's state.

The workflow is the source of truth. Its "state" query returns the state as last committed to
the read model, with the batch number (seq) of that commit; at the same seq the rows must say
exactly what the state says. Where they do not (a restored backup, a hand edit, a lost write)
the rows are rewritten from the state and the difference is reported. A read model that is
ahead (a projection in flight while we asked) is left alone.
"""

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio.client import Client

from core import clock
from models.state import PathwayState, Task, Visit
from models.tables import PathwayRow, StageHistoryRow, TaskRow, VisitRow
from models.vocab import Stage

log = logging.getLogger("sirt.scheduler.reconcile")

OPEN_STAGES = [s.value for s in Stage if not s.is_terminal]
_TASK_FIELDS = (
    "kind",
    "role",
    "title",
    "state",
    "opened_at",
    "due_on",
    "not_before",
    "overdue",
    "closed_at",
    "detail",
    "visit_id",
)
_VISIT_FIELDS = (
    "code",
    "kind",
    "treatment_number",
    "due_on",
    "window_days",
    "state",
    "recorded_on",
)
_SUMMARY_FIELDS = (
    "stage",
    "stage_entered_at",
    "referred_at",
    "centre",
    "next_due_on",
    "overdue",
    "treatment_number",
    "treatment_on",
    "cumulative_lung_dose_gy",
    "exit_reason",
    "last_seq",
)


@dataclass(frozen=True)
class Repair:
    """One difference put right: ``what`` names the row and field; values as text."""

    pathway_id: str
    what: str
    read_model: str | None
    workflow: str | None


@dataclass
class ReconcileReport:
    """What a reconciliation run found."""

    checked: int = 0
    repairs: list[Repair] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # read model ahead of the query
    unreachable: list[str] = field(default_factory=list)  # the query failed

    def summary(self) -> dict[str, Any]:
        """Counts and the repaired pathway ids, for the scheduler's run record."""
        return {
            "checked": self.checked,
            "repairs": len(self.repairs),
            "repaired_pathways": sorted({r.pathway_id for r in self.repairs}),
            "skipped": len(self.skipped),
            "unreachable": sorted(self.unreachable),
        }


def open_pathway_ids(engine: Engine) -> list[str]:
    """Pathways the read model thinks are still running."""
    stmt = select(PathwayRow.id).where(col(PathwayRow.stage).in_(OPEN_STAGES))
    with Session(engine) as session:
        return sorted(session.exec(stmt).all())


async def reconcile(
    engine: Engine,
    client: Client,
    *,
    concurrency: int = 8,
    rpc_timeout: timedelta = timedelta(seconds=10),
) -> ReconcileReport:
    """Compare and repair every open pathway, ``concurrency`` queries at a time."""
    report = ReconcileReport()
    ids = await asyncio.to_thread(open_pathway_ids, engine)
    gate = asyncio.Semaphore(concurrency)

    async def one(pathway_id: str) -> None:
        async with gate:
            try:
                state = await client.get_workflow_handle(pathway_id).query(
                    "state", result_type=PathwayState, rpc_timeout=rpc_timeout
                )
            except Exception as exc:
                log.warning("reconcile: %s not queryable (%s)", pathway_id, type(exc).__name__)
                report.unreachable.append(pathway_id)
                return
            repairs = await asyncio.to_thread(repair_pathway, engine, state)
        report.checked += 1
        if repairs is None:
            report.skipped.append(pathway_id)
            return
        if repairs:
            # Pathway ids and field names only: values stay out of the logs.
            fields = ", ".join(r.what for r in repairs)
            log.warning("reconcile: repaired %s: %s", pathway_id, fields)
        report.repairs.extend(repairs)

    await asyncio.gather(*(one(i) for i in ids))
    return report


def repair_pathway(engine: Engine, state: PathwayState) -> list[Repair] | None:
    """Make the read model say what ``state`` says; the repairs, or None if it is ahead."""
    pid = state.pathway_id
    with Session(engine) as session:
        row = session.get(PathwayRow, pid, with_for_update=True)
        if row is not None and row.last_seq > state.seq:
            session.rollback()
            return None
        repairs: list[Repair] = []
        expected = _summary(state)
        if row is None:
            # Never projected at all: the patient row cannot be rebuilt from the state.
            repairs.append(Repair(pid, "pathway", None, "missing"))
            session.add(PathwayRow(id=pid, updated_at=clock.now(), **expected))
        else:
            for name in _SUMMARY_FIELDS:
                have, want = getattr(row, name), expected[name]
                if _norm(have) != _norm(want):
                    repairs.append(Repair(pid, f"pathway.{name}", _text(have), _text(want)))
                    setattr(row, name, want)
            if repairs:
                row.updated_at = clock.now()
                session.add(row)
        session.flush()
        repairs += _repair_rows(session, pid, "task", TaskRow, state.tasks, {"fired"}, _TASK_FIELDS)
        repairs += _repair_rows(
            session, pid, "visit", VisitRow, state.visits, {"task_id"}, _VISIT_FIELDS
        )
        repairs += _repair_history(session, state)
        session.commit()
        return repairs


def _summary(state: PathwayState) -> dict[str, Any]:
    return {
        "stage": state.stage.value,
        "stage_entered_at": state.stage_entered_at,
        "referred_at": state.referred_at,
        "centre": state.centre,
        "next_due_on": state.next_due_on,
        "overdue": state.overdue,
        "treatment_number": state.treatment_number,
        "treatment_on": state.treatment_on,
        "cumulative_lung_dose_gy": state.cumulative_lung_dose_gy,
        "exit_reason": state.exit_reason,
        "last_seq": state.seq,
    }


def _repair_rows(
    session: Session,
    pid: str,
    label: str,
    table: type[TaskRow] | type[VisitRow],
    items: Mapping[str, Task] | Mapping[str, Visit],
    exclude: set[str],
    fields: tuple[str, ...],
) -> list[Repair]:
    """Make one pathway's task (or visit) rows equal the workflow's, field by field."""
    stmt = select(table).where(col(table.pathway_id) == pid)
    rows: dict[str, Any] = {r.id: r for r in session.exec(stmt)}  # type: ignore[attr-defined]
    repairs: list[Repair] = []
    for item_id, item in sorted(items.items()):
        want = item.model_dump(exclude=exclude)
        have = rows.pop(item_id, None)
        if have is None:
            repairs.append(Repair(pid, f"{label} {item_id}", None, "missing"))
            session.add(table(pathway_id=pid, **want))
            continue
        repairs += _fix_fields(pid, f"{label} {item_id}", have, want, fields)
        session.add(have)
    for item_id, extra in sorted(rows.items()):
        repairs.append(Repair(pid, f"{label} {item_id}", "present", None))
        session.delete(extra)
    return repairs


def _repair_history(session: Session, state: PathwayState) -> list[Repair]:
    pid = state.pathway_id
    stmt = select(StageHistoryRow).where(col(StageHistoryRow.pathway_id) == pid)
    rows = {r.ordinal: r for r in session.exec(stmt)}
    repairs: list[Repair] = []
    for change in state.history:
        want: dict[str, Any] = {
            "stage": change.stage.value,
            "entered_at": change.at,
            "reason": change.reason,
        }
        have = rows.pop(change.ordinal, None)
        if have is None:
            repairs.append(Repair(pid, f"stage_history {change.ordinal}", None, "missing"))
            session.add(StageHistoryRow(pathway_id=pid, ordinal=change.ordinal, **want))
            continue
        what = f"stage_history {change.ordinal}"
        repairs += _fix_fields(pid, what, have, want, ("stage", "entered_at", "reason"))
        session.add(have)
    for ordinal, extra in sorted(rows.items()):
        repairs.append(Repair(pid, f"stage_history {ordinal}", "present", None))
        session.delete(extra)
    return repairs


def _fix_fields(
    pid: str, what: str, row: Any, want: dict[str, Any], fields: tuple[str, ...]
) -> list[Repair]:
    repairs = []
    for name in fields:
        have = getattr(row, name)
        if _norm(have) != _norm(want[name]):
            repairs.append(Repair(pid, f"{what}.{name}", _text(have), _text(want[name])))
            setattr(row, name, want[name])
    return repairs


def _norm(value: Any) -> Any:
    # SQLite returns naive UTC datetimes; enums compare by value.
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, float):
        return round(value, 9)
    return getattr(value, "value", value)


def _text(value: Any) -> str | None:
    value = _norm(value)
    if value is None:
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)

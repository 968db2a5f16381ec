"""Which events a projection batch emits, and their data (never the patient's identity).

Types (``uk.nhs.sirt.pathway.<event>``; docs/events.md lists their data):
stage_changed, task_opened, task_closed, task_overdue, visit_recorded, clock_breached.
"""

from typing import Any

from models.state import ProjectionBatch
from models.vocab import TaskState, VisitState

TYPE_PREFIX = "uk.nhs.sirt.pathway."
EVENT_TYPES = (
    "stage_changed",
    "task_opened",
    "task_closed",
    "task_overdue",
    "visit_recorded",
    "clock_breached",
)


def events_of(batch: ProjectionBatch) -> list[dict[str, Any]]:
    """The events of one committed batch, as ``pathway_event`` rows (columns to values), with
    ids that are the same on every retry. Plain rows: ORM objects cost more to build than
    the projection spent writing them."""
    pid, at = batch.pathway_id, batch.at
    out: list[tuple[str, str, dict[str, Any]]] = []
    for change in batch.stage_changes:
        out.append(
            (
                f"stage:{change.ordinal}",
                "stage_changed",
                {"stage": change.stage.value, "ordinal": change.ordinal},
            )
        )
    for task in batch.tasks:
        about = {"task_id": task.id, "kind": task.kind.value, "role": task.role.value}
        if task.state == TaskState.OPEN:
            out.append(
                (f"task:{task.id}:opened", "task_opened", {**about, "due_on": str(task.due_on)})
            )
            if task.overdue:
                key = f"task:{task.id}:overdue:{task.due_on}"
                out.append((key, "task_overdue", {**about, "due_on": str(task.due_on)}))
        else:
            out.append(
                (f"task:{task.id}:closed", "task_closed", {**about, "state": task.state.value})
            )
    for visit in batch.visits:
        if visit.state == VisitState.DONE:
            recorded = {"visit_code": visit.code, "recorded_on": str(visit.recorded_on)}
            out.append((f"visit:{visit.id}:recorded", "visit_recorded", recorded))
    for breach in batch.clock_breaches:
        clock: dict[str, Any] = {
            "clock": breach.kind.value,
            "clock_key": breach.key,
            "started_on": str(breach.started_on),
            "target_days": breach.target_days,
            "breach_date": str(breach.breach_date),
            "paused_days": breach.paused_days,
        }
        out.append((f"clock:{breach.key}:breached", "clock_breached", clock))
    return [
        {"id": f"{pid}:{key}", "pathway_id": pid, "type": kind, "time": at, "data": data}
        for key, kind, data in out
    ]

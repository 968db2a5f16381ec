"""Time the read-model projection (``apply_batch``) on PostgreSQL and SQLite.

    .venv/bin/python -m bench.projection_bench [--pathways 200] [--backend both]

Each synthetic pathway is projected as a five-year story would be: the referral (patient,
stages, tasks, outcome, clock), the human steps up to treatment, the treatment that schedules
fourteen follow-up visits with their tasks, and visits with reminders. Every batch runs in its
own transaction through the activity's code path; a second pass re-applies every batch (a
retried activity) and must change nothing. Prints p50/p95 per backend in milliseconds.
Figures only: nothing here asserts on timing.
"""

import argparse
import os
import statistics
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta

import psycopg
from sqlalchemy import Engine, text

from activities.projection import ProjectionActivities, apply_batch
from clinical.clocks import ClockKind, WaitingClock
from core.db import get_engine, migrate
from models.referral import PatientIdentity
from models.state import (
    OutboxMessage,
    OutcomeRecord,
    PathwaySummary,
    ProjectionBatch,
    StageChange,
    Task,
    Visit,
)
from models.vocab import MessageKind, Role, Stage, TaskKind, TaskState

PG_ADMIN = os.environ.get("SIRT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
T0 = datetime(2031, 3, 5, 9, 0, tzinfo=UTC)
PATIENT = PatientIdentity(
    nhs_number="9434765919", family_name="Bench", given_name="Pat", date_of_birth=date(1958, 3, 14)
)


def story(pid: str) -> list[ProjectionBatch]:
    """The batches of one pathway, referral to a year of follow-up."""
    batches: list[ProjectionBatch] = []
    tasks: dict[str, Task] = {}
    stage = Stage.MDT_REVIEW
    ordinal = 0

    def summary(at: datetime) -> PathwaySummary:
        return PathwaySummary(
            stage=stage,
            stage_entered_at=at,
            referred_at=T0,
            centre="BENCH",
            next_due_on=min((t.due_on for t in tasks.values() if t.is_open), default=None),
            overdue=False,
            treatment_number=1 if stage == Stage.FOLLOW_UP else 0,
            treatment_on=None,
            cumulative_lung_dose_gy=0.0,
            exit_reason=None,
        )

    def step(day: int, kind: TaskKind, next_stage: Stage, **extra: object) -> None:
        nonlocal stage, ordinal
        at = T0 + timedelta(days=day)
        changed = [
            t.model_copy(update={"state": TaskState.DONE, "closed_at": at})
            for t in tasks.values()
            if t.is_open
        ]
        for t in changed:
            tasks[t.id] = t
        new = Task(
            id=f"{kind.value}-{len(tasks) + 1}",
            kind=kind,
            role=Role.COORDINATOR,
            title=kind.value.replace("_", " "),
            opened_at=at,
            due_on=at.date() + timedelta(days=7),
        )
        tasks[new.id] = new
        changes = []
        if next_stage != stage:
            ordinal += 1
            stage = next_stage
            changes = [StageChange(ordinal=ordinal, stage=stage, at=at)]
        batches.append(
            ProjectionBatch(
                pathway_id=pid,
                seq=len(batches) + 1,
                at=at,
                summary=summary(at),
                stage_changes=changes,
                tasks=[*changed, new],
                outcomes=[
                    OutcomeRecord(
                        id=f"o{len(batches)}",
                        kind=kind.value,
                        recorded_at=at,
                        data={"day": day, "values": [1.5, 2.5]},
                    )
                ],
                outbox=[
                    OutboxMessage(
                        id=f"{pid}:{new.id}:reminder-{d}",
                        recipient_role=Role.COORDINATOR,
                        kind=MessageKind.REMINDER,
                        task_id=new.id,
                        due_on=new.due_on,
                        subject="Reminder",
                        send_at=at + timedelta(days=d),
                        created_at=at,
                    )
                    for d in (6, 7)
                ],
                **extra,
            )
        )

    clock = {"62-day#1": WaitingClock(kind=ClockKind.DAYS_62, start=T0.date())}
    step(0, TaskKind.MDT_DECISION, Stage.MDT_REVIEW, patient=PATIENT, clocks=clock)
    step(10, TaskKind.SCHEDULE_WORKUP, Stage.WORKUP)
    step(12, TaskKind.RECORD_WORKUP, Stage.WORKUP)
    step(14, TaskKind.DOSIMETRY_PLAN, Stage.DOSIMETRY_PLANNING)
    step(18, TaskKind.SCHEDULE_TREATMENT, Stage.TREATMENT_SCHEDULED)
    step(20, TaskKind.RECORD_TREATMENT, Stage.TREATMENT_SCHEDULED)
    visits = [
        Visit(
            id=f"v{n}",
            code=f"{n}m",
            kind="clinic",
            treatment_number=1,
            due_on=date(2031, 4, 1) + timedelta(days=91 * n),
            window_days=14,
            task_id=f"visit-{n}",
        )
        for n in range(14)
    ]
    step(25, TaskKind.FOLLOW_UP_VISIT, Stage.FOLLOW_UP, visits=visits)
    for n in range(4):
        step(25 + 91 * (n + 1), TaskKind.FOLLOW_UP_VISIT, Stage.FOLLOW_UP)
    return batches


def run(engine: Engine, pathways: int) -> dict[str, list[float]]:
    """Milliseconds per batch: the whole activity, its statements and its commit apart, and a
    retry of each batch (which must be a no-op)."""
    stories = [story(f"pathway-bench-{uuid.uuid4()}") for _ in range(pathways)]
    activity = ProjectionActivities(engine)
    laps: dict[str, list[float]] = {"activity": [], "statements": [], "commit": [], "retry": []}
    for n, batches in enumerate(stories):
        for batch in batches:
            start = time.perf_counter()
            if n % 2:  # every other pathway through the activity itself
                assert activity.project_pathway(batch)
                laps["activity"].append((time.perf_counter() - start) * 1000)
                continue
            with engine.connect() as conn:
                transaction = conn.begin()
                assert apply_batch(conn, batch)
                written = time.perf_counter()
                transaction.commit()
            laps["statements"].append((written - start) * 1000)
            laps["commit"].append((time.perf_counter() - written) * 1000)
    for batches in stories:
        for batch in batches:
            start = time.perf_counter()
            assert not activity.project_pathway(batch)
            laps["retry"].append((time.perf_counter() - start) * 1000)
    with engine.connect() as conn:
        applied = conn.execute(text("SELECT count(*) FROM projection_log")).scalar_one()
    assert applied == sum(len(b) for b in stories)
    return laps


def report(name: str, laps: dict[str, list[float]]) -> None:
    figures = "  ".join(
        f"{lap} p50 {statistics.median(ms):.2f} p95 {statistics.quantiles(ms, n=20)[18]:.2f}"
        for lap, ms in laps.items()
    )
    print(f"{name} ({len(laps['retry'])} batches, ms): {figures}")


def main(argv: list[str] | None = None) -> int:
    """Create the databases, project, report, drop."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pathways", type=int, default=200)
    parser.add_argument("--backend", choices=["both", "postgresql", "sqlite"], default="both")
    args = parser.parse_args(argv)
    if args.backend in ("both", "sqlite"):
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/bench.db"
            migrate(url)
            report("sqlite", run(get_engine(url), args.pathways))
            get_engine(url).dispose()
    if args.backend in ("both", "postgresql"):
        name = f"sirt_bench_{uuid.uuid4().hex[:12]}"
        admin = psycopg.connect(PG_ADMIN, autocommit=True)
        admin.execute(f'CREATE DATABASE "{name}"')
        url = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
        url = f"{url}/{name}"
        try:
            migrate(url)
            report("postgresql", run(get_engine(url), args.pathways))
        finally:
            get_engine(url).dispose()
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            admin.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Two scheduler instances on one PostgreSQL: one runs the jobs, the standby takes over."""

import asyncio
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio.testing import WorkflowEnvironment

from core.config import Settings
from core.db import get_engine, migrate
from models.notifications import NotificationRow
from notifications.config import NotifyConfig
from scheduler.jobs import JobContext
from scheduler.lock import FileLock, PostgresAdvisoryLock, lock_for
from scheduler.runs import runs
from scheduler.service import SchedulerService
from tests.notifications.support import PG_ADMIN, seed_message
from tests.pinned import EDGES, LONDON

NOTIFY = NotifyConfig.model_validate(
    {
        "channels": {"desk": {"type": "email", "to": ["desk@test.invalid"]}},
        "roles": {"coordinator": ["desk"]},
    }
)


async def eventually(check: Callable[[], bool], what: str) -> None:
    """Bounded polling: no timing is asserted, only that it happens."""
    for _ in range(400):
        if check():
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"never happened: {what}")


def outcome(ctx: JobContext | None, job: str) -> list[str]:
    return [result for j, _, result in (ctx.outcomes if ctx else []) if j == job]


@pytest.mark.now("wednesday")  # a working day, so the digest goes out
async def test_one_instance_runs_the_jobs_once_per_period_and_a_standby_takes_over(
    workflow_env: WorkflowEnvironment,
    db_url: str,
    engine: Engine,
    tmp_path: Path,
    test_now: datetime,
) -> None:
    settings = Settings(database_url=db_url, data_dir=tmp_path)
    now = test_now
    seed_message(engine, role="coordinator", send_at=now, kind="reminder")

    def instance(name: str) -> SchedulerService:
        return SchedulerService(
            settings, workflow_env.client, notify_config=NOTIFY, poll_seconds=0.05, instance=name
        )

    a, b = instance("A"), instance("B")
    assert isinstance(a.lock, PostgresAdvisoryLock)
    stop_a, stop_b = asyncio.Event(), asyncio.Event()
    task_a = asyncio.create_task(a.run(stop_a))
    await eventually(lambda: a.active, "A takes the lock")
    task_b = asyncio.create_task(b.run(stop_b))
    await eventually(lambda: b.lock_attempts >= 5, "B tries the lock a few times")
    assert a.active and not b.active and b.context is None
    assert set(a.next_run_times()) == {"digest", "reconcile", "registry", "snapshot"}

    # The standby runs nothing; the active runs each job once per period.
    assert not b.trigger("digest")
    assert a.trigger("digest")
    await eventually(lambda: outcome(a.context, "digest") == ["ran"], "A's digest runs")
    assert a.trigger("digest")
    await eventually(lambda: outcome(a.context, "digest") == ["ran", "skipped"], "no re-run")
    [digest_run] = runs(engine, "digest")
    assert (digest_run.instance, digest_run.state) == ("A", "ok")
    with Session(engine) as session:
        digests = session.exec(
            select(NotificationRow).where(col(NotificationRow.source) == "digest")
        ).all()
    assert [d.key for d in digests] == [f"digest:coordinator:{digest_run.period}"]
    assert digests[0].body is not None and "pathway-" in digests[0].body
    assert "Testpatient" not in digests[0].body

    # Kill A as a crash would: its database session dies, then the process.
    pid = a.lock.backend_pid
    with psycopg.connect(PG_ADMIN.rsplit("/", 1)[0] + "/postgres", autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    task_a.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task_a
    await eventually(lambda: b.active, "B takes over")
    # B finds the jobs A persisted, and the period A already ran stays done.
    assert set(b.next_run_times()) == {"digest", "reconcile", "registry", "snapshot"}
    assert b.trigger("snapshot") and b.trigger("digest")
    await eventually(lambda: outcome(b.context, "snapshot") == ["ran"], "B's snapshot runs")
    await eventually(lambda: outcome(b.context, "digest") == ["skipped"], "B skips the digest")
    assert [r.instance for r in runs(engine, "snapshot")] == ["B"]

    # A graceful stop hands over too.
    c = instance("C")
    stop_c = asyncio.Event()
    task_c = asyncio.create_task(c.run(stop_c))
    await eventually(lambda: c.lock_attempts >= 2, "C stands by")
    assert not c.active
    stop_b.set()
    await task_b
    await eventually(lambda: c.active, "C takes over from B")
    stop_c.set()
    await task_c
    assert not c.active


def test_on_sqlite_a_file_lock_admits_one_instance(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'sirt.db'}", data_dir=tmp_path)
    first, second = lock_for(settings), lock_for(settings)
    assert isinstance(first, FileLock) and isinstance(second, FileLock)
    assert first.try_acquire() and first.still_held()
    assert not second.try_acquire()
    first.release()
    assert second.try_acquire()
    second.release()


# Whether the centre's day (Europe/London) at each edge is a working day.
WORKING_DAY_AT = {
    "wednesday": True,
    "saturday": False,
    "christmas-day": False,
    "after-easter-monday": True,
    "spring-forward": False,  # a Sunday
    "fall-back": False,  # a Sunday
    "23:59": True,  # Friday evening
    "00:01": False,  # Saturday, though UTC's date is still Friday
}
assert set(WORKING_DAY_AT) == set(EDGES)


@pytest.mark.date_sensitive
@pytest.mark.parametrize("test_now", list(WORKING_DAY_AT), indirect=True)
async def test_the_digest_goes_out_on_the_centres_working_days_only(
    workflow_env: WorkflowEnvironment,
    tmp_path: Path,
    test_now: datetime,
    request: pytest.FixtureRequest,
) -> None:
    """On SQLite (the embedded default) with a file lock; a fresh read model per edge."""
    working = WORKING_DAY_AT[request.node.callspec.id]
    url = f"sqlite:///{tmp_path / 'sirt.db'}"
    migrate(url)
    seed_message(get_engine(url), role="coordinator", send_at=test_now, kind="reminder")
    service = SchedulerService(
        Settings(database_url=url, data_dir=tmp_path),
        workflow_env.client,
        notify_config=NOTIFY,
        poll_seconds=0.05,
        instance="solo",
    )
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))
    await eventually(lambda: service.active, "the only instance becomes active")
    assert service.trigger("digest")
    await eventually(lambda: outcome(service.context, "digest") == ["ran"], "digest runs")
    stop.set()
    await task
    local_day = test_now.astimezone(LONDON).date()
    [run] = runs(service.engine, "digest")
    assert run.period == local_day.isoformat()
    assert run.state == "ok" and run.finished_at is not None
    if working:
        assert run.summary == {"working_day": True, "digests": 1, "roles": ["coordinator"]}
    else:
        assert run.summary == {"working_day": False, "digests": 0}

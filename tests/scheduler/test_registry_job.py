"""The nightly registry job sends every record the pathways' own submissions did not."""

import asyncio
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio.testing import WorkflowEnvironment

from models.reports import RegistrySubmissionRow, SubmissionStatus
from notifications.config import NotifyConfig
from registry.config import RegistrySettings
from registry.submission import HttpTransport, SubmissionError, submit_if_changed
from scheduler import jobs
from scheduler.runs import runs
from tests.registry.support import Registry, loopback_registry
from tests.reports.support import change_outcome, fresh_postgres, insert_audit_cohort

SETTINGS = RegistrySettings(pseudonym_secret="test-secret", _env_file=None)
NIGHT = datetime(2027, 3, 2, 3, 30, tzinfo=UTC)
NEXT_NIGHT = datetime(2027, 3, 3, 3, 30, tzinfo=UTC)


@pytest.fixture
def registry() -> Iterator[Registry]:
    with loopback_registry() as r:
        yield r


def latest(engine: Engine) -> dict[str, tuple[int, str, int]]:
    """Each pathway's newest submission: (version, status, attempts)."""
    with Session(engine) as session:
        found = session.exec(
            select(RegistrySubmissionRow).order_by(col(RegistrySubmissionRow.version))
        ).all()
    return {r.pathway_id: (r.version, r.status, r.attempts) for r in found}


async def run_job(ctx: jobs.JobContext) -> None:
    jobs.activate(ctx)
    try:
        # As APScheduler would: on a thread of its own (the job blocks on HTTP and SQL).
        await asyncio.to_thread(jobs.registry_job)
    finally:
        jobs.deactivate(ctx)


async def test_the_nightly_job_resubmits_failed_cut_off_and_changed_records(
    workflow_env: WorkflowEnvironment, registry: Registry
) -> None:
    with fresh_postgres() as engine:
        insert_audit_cohort(engine)  # six treated patients, pa to pf
        transport = HttpTransport(registry.url)
        # During the day: pb and pc were sent, and pc has changed since.
        for pid in ("pb", "pc"):
            assert submit_if_changed(engine, pid, transport, SETTINGS).status == "sent"
        change_outcome(engine, "pc", date(2027, 1, 5))
        # pd's submission failed (the pathway's retries gave up during an outage).
        registry.down = True
        with pytest.raises(SubmissionError, match="503"):
            submit_if_changed(engine, "pd", transport, SETTINGS)
        registry.down = False
        # pe's was cut off mid-send when its pathway continued as new: a claim left pending.
        with Session(engine) as session:
            session.add(
                RegistrySubmissionRow(
                    pathway_id="pe",
                    version=1,
                    record_hash="cut-off",
                    status=SubmissionStatus.PENDING,
                    claimed_at=datetime(2027, 3, 1, 9, tzinfo=UTC),
                    attempts=1,
                    payload="{}",
                )
            )
            session.commit()
        # pa and pf were never submitted at all.
        assert len(registry.posts) == 2

        ctx = jobs.JobContext(
            engine=engine,
            client=workflow_env.client,
            notify=NotifyConfig.model_validate({}),
            loop=asyncio.get_running_loop(),
            instance="night",
            clock=lambda: NIGHT,
            registry=SETTINGS.model_copy(update={"url": registry.url}),
        )
        await run_job(ctx)
        assert ctx.outcomes == [("registry", "2027-03-02", "ran")]
        [night] = runs(engine, "registry")
        assert (night.state, night.summary) == ("ok", {"enabled": True, "sent": 5, "unchanged": 1})
        assert len(registry.posts) == 7
        assert latest(engine) == {
            "pa": (1, "sent", 1),
            "pb": (1, "sent", 1),
            "pc": (2, "sent", 1),
            "pd": (1, "sent", 2),
            "pe": (1, "sent", 2),
            "pf": (1, "sent", 1),
        }

        # The next night there is nothing to send.
        ctx.clock = lambda: NEXT_NIGHT
        await run_job(ctx)
        assert runs(engine, "registry")[0].summary == {
            "enabled": True,
            "unchanged": 6,
        }
        assert len(registry.posts) == 7

        # With no registry URL the job sends nothing and says so.
        ctx.registry, ctx.clock = SETTINGS, lambda: datetime(2027, 3, 4, 3, 30, tzinfo=UTC)
        await run_job(ctx)
        assert runs(engine, "registry")[0].summary == {"enabled": False}

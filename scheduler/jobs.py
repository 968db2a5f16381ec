"""The periodic jobs, as module-level functions APScheduler's job store can refer to by name.

A persisted job holds only "scheduler.jobs:digest_job" and its trigger; what the job needs
(engine, Temporal client, event loop) is the active scheduler's ``JobContext``, set when it
takes the lock and cleared when it lets go.
"""

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from apscheduler.triggers.base import BaseTrigger  # type: ignore[import-untyped]
from apscheduler.triggers.cron import CronTrigger  # type: ignore[import-untyped]
from sqlalchemy import Engine
from temporalio.client import Client

from core.calendar import CalendarConfig
from notifications.config import NotifyConfig
from registry.config import RegistrySettings
from registry.submission import HttpTransport, submit_all_changed
from scheduler.digest import write_digests
from scheduler.reconcile import reconcile
from scheduler.runs import FAILED, OK, claim_period, finish_period
from scheduler.snapshot import period_of, take_snapshot

log = logging.getLogger("sirt.scheduler")

RECONCILE_TIMEOUT_SECONDS = 3600.0


@dataclass
class JobContext:
    """What the active scheduler's jobs run with."""

    engine: Engine
    client: Client
    notify: NotifyConfig
    loop: asyncio.AbstractEventLoop
    instance: str
    clock: Callable[[], datetime]
    registry: RegistrySettings | None = None
    outcomes: list[tuple[str, str, str]] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)


_context: JobContext | None = None
_context_lock = threading.Lock()


def activate(ctx: JobContext) -> None:
    """Make ``ctx`` the one jobs in this process run with."""
    global _context
    with _context_lock:
        _context = ctx


def deactivate(ctx: JobContext) -> None:
    """Stop jobs using ``ctx`` (if it is still the active one)."""
    global _context
    with _context_lock:
        if _context is ctx:
            _context = None


Body = Callable[[JobContext, date, datetime], dict[str, Any]]


def _run(job: str, period_of_day: Callable[[date], str], body: Body) -> None:
    with _context_lock:
        ctx = _context
    if ctx is None:
        log.warning("%s: no active scheduler in this process; not run", job)
        return
    now = ctx.clock()
    today = ctx.notify.calendar.calendar().local_date(now)
    period = period_of_day(today)
    if not claim_period(ctx.engine, job, period, ctx.instance, now):
        log.info("%s %s: already run; skipped", job, period)
        ctx.outcomes.append((job, period, "skipped"))
        return
    try:
        summary = body(ctx, today, now)
    except Exception as exc:
        log.exception("%s %s failed", job, period)
        finish_period(ctx.engine, job, period, FAILED, ctx.clock(), {"error": type(exc).__name__})
        ctx.outcomes.append((job, period, "failed"))
        return
    finish_period(ctx.engine, job, period, OK, ctx.clock(), summary)
    ctx.outcomes.append((job, period, "ran"))
    log.info("%s %s: %s", job, period, summary)


def _digest(ctx: JobContext, today: date, now: datetime) -> dict[str, Any]:
    if not ctx.notify.calendar.calendar().is_working_day(today):
        return {"working_day": False, "digests": 0}
    roles = [role for role, channels in ctx.notify.roles.items() if channels]
    keys = write_digests(ctx.engine, roles, today, now)
    return {"working_day": True, "digests": len(keys), "roles": sorted(roles)}


def _reconcile(ctx: JobContext, today: date, now: datetime) -> dict[str, Any]:
    # The Temporal client belongs to the event loop it was made on: run there and wait.
    future = asyncio.run_coroutine_threadsafe(reconcile(ctx.engine, ctx.client), ctx.loop)
    report = future.result(timeout=RECONCILE_TIMEOUT_SECONDS)
    ctx.results["reconcile"] = report
    return report.summary()


def _registry(ctx: JobContext, today: date, now: datetime) -> dict[str, Any]:
    settings = ctx.registry
    if settings is None or not settings.url:
        return {"enabled": False}
    transport = HttpTransport(settings.url, settings.timeout_seconds)
    counts = submit_all_changed(ctx.engine, transport, settings, ctx.clock)
    ctx.results["registry"] = counts
    return {"enabled": True, **counts}


def _snapshot(ctx: JobContext, today: date, now: datetime) -> dict[str, Any]:
    totals = take_snapshot(ctx.engine, today, now)
    ctx.results["snapshot"] = totals
    return {"buckets": totals}


def digest_job() -> None:
    """The daily worklist digest per role (08:00 local on working days)."""
    _run("digest", date.isoformat, _digest)


def reconcile_job() -> None:
    """The nightly reconciliation of open pathways against Temporal."""
    _run("reconcile", date.isoformat, _reconcile)


def registry_job() -> None:
    """The nightly resubmission of registry records not sent since they last changed.

    The pathway's own submissions give up after a week, and one cut off by continue-as-new
    or by the pathway ending is not retried by the workflow: this job sends what they missed.
    """
    _run("registry", date.isoformat, _registry)


def snapshot_job() -> None:
    """The weekly waiting-list (PTL) snapshot."""
    _run("snapshot", period_of, _snapshot)


@dataclass(frozen=True)
class JobSpec:
    """A job: its id, its function's textual reference, when it runs, how late it may run."""

    id: str
    func: str
    trigger: Callable[[CalendarConfig], BaseTrigger]
    misfire_grace_seconds: int


def _digest_trigger(cal: CalendarConfig) -> BaseTrigger:
    at = cal.reminder_local_time
    # Weekdays here; bank holidays are skipped by the job itself (it knows the calendar).
    return CronTrigger(day_of_week="mon-fri", hour=at.hour, minute=at.minute, timezone=cal.timezone)


JOBS: tuple[JobSpec, ...] = (
    JobSpec("digest", "scheduler.jobs:digest_job", _digest_trigger, 3 * 3600),
    JobSpec(
        "reconcile",
        "scheduler.jobs:reconcile_job",
        lambda cal: CronTrigger(hour=2, minute=30, timezone=cal.timezone),
        6 * 3600,
    ),
    JobSpec(
        "registry",
        "scheduler.jobs:registry_job",
        lambda cal: CronTrigger(hour=3, minute=30, timezone=cal.timezone),
        6 * 3600,
    ),
    JobSpec(
        "snapshot",
        "scheduler.jobs:snapshot_job",
        lambda cal: CronTrigger(day_of_week="mon", hour=6, timezone=cal.timezone),
        24 * 3600,
    ),
)

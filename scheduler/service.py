"""One active scheduler, any number of standbys.

Every instance polls the lock; the one that holds it runs APScheduler 3 (BackgroundScheduler,
so the synchronous SQLAlchemy job store does its I/O on the scheduler's thread, not the event
loop) with its jobs persisted in the application database. If the holder dies its lock goes
with it and a standby starts within ``poll_seconds``; if it loses its database connection it
notices at the next poll and stands down.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime

from apscheduler.executors.pool import ThreadPoolExecutor  # type: ignore[import-untyped]
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore  # type: ignore[import-untyped]
from apscheduler.schedulers.background import BackgroundScheduler  # type: ignore[import-untyped]
from temporalio.client import Client

from core import clock as core_clock
from core.calendar import zone
from core.config import Settings
from core.db import get_engine
from notifications.config import NotifyConfig, load_notify_config
from notifications.delivery import owner_id
from registry.config import RegistrySettings
from scheduler import jobs
from scheduler.lock import SchedulerLock, lock_for

log = logging.getLogger("sirt.scheduler")


class SchedulerService:
    """An instance that becomes the active scheduler while it holds the lock."""

    def __init__(
        self,
        settings: Settings,
        client: Client,
        *,
        notify_config: NotifyConfig | None = None,
        lock: SchedulerLock | None = None,
        poll_seconds: float = 5.0,
        instance: str | None = None,
        clock: Callable[[], datetime] | None = None,
        specs: tuple[jobs.JobSpec, ...] = jobs.JOBS,
        registry_settings: RegistrySettings | None = None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.notify = notify_config or load_notify_config()
        self.lock = lock or lock_for(settings)
        self.poll_seconds = poll_seconds
        self.instance = instance or owner_id()
        self.clock = clock or core_clock.now
        self.specs = specs
        # Off unless SIRT_REGISTRY_URL is set, like the worker's submissions.
        self.registry = registry_settings or RegistrySettings()
        self.engine = get_engine(settings.resolved_database_url)
        self.context: jobs.JobContext | None = None
        self._scheduler: BackgroundScheduler | None = None
        self.lock_attempts = 0

    @property
    def active(self) -> bool:
        """Whether this instance holds the lock and runs the jobs."""
        return self._scheduler is not None

    async def run(self, stop_event: asyncio.Event) -> None:
        """Stand by or run the jobs until ``stop_event`` is set; releases the lock at the end."""
        loop = asyncio.get_running_loop()
        log.info("scheduler %s starting (standby until it holds the lock)", self.instance)
        try:
            while not stop_event.is_set():
                if self._scheduler is None:
                    self.lock_attempts += 1
                    if await asyncio.to_thread(self.lock.try_acquire):
                        await asyncio.to_thread(self._start, loop)
                elif not await asyncio.to_thread(self.lock.still_held):
                    log.error("scheduler %s lost its lock; standing by", self.instance)
                    await asyncio.to_thread(self._stop)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop_event.wait(), self.poll_seconds)
        finally:
            self._stop()
            self.lock.release()
            log.info("scheduler %s stopped", self.instance)

    def trigger(self, job_id: str) -> bool:
        """Run a job now (admin action, tests); False on a standby, which runs nothing."""
        scheduler = self._scheduler
        if scheduler is None:
            return False
        # APScheduler's own timers run on the machine's time, whatever the job clock says.
        scheduler.modify_job(job_id, next_run_time=core_clock.system_time())
        return True

    def next_run_times(self) -> dict[str, datetime | None]:
        """When each job runs next (empty on a standby)."""
        if self._scheduler is None:
            return {}
        return {job.id: job.next_run_time for job in self._scheduler.get_jobs()}

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        calendar = self.notify.calendar
        scheduler = BackgroundScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=self.engine)},
            executors={"default": ThreadPoolExecutor(2)},
            job_defaults={"coalesce": True, "max_instances": 1},
            timezone=zone(calendar.timezone),
        )
        self.context = jobs.JobContext(
            engine=self.engine,
            client=self.client,
            notify=self.notify,
            loop=loop,
            instance=self.instance,
            clock=self.clock,
            registry=self.registry,
        )
        jobs.activate(self.context)
        # Paused while the jobs are (re)registered, so nothing fires half-configured.
        scheduler.start(paused=True)
        for spec in self.specs:
            trigger = spec.trigger(calendar)
            if scheduler.get_job(spec.id) is None:
                scheduler.add_job(
                    spec.func, trigger, id=spec.id, misfire_grace_time=spec.misfire_grace_seconds
                )
            else:
                # Keep the persisted next run time: a run missed during a takeover still
                # fires (within its grace time) instead of being rescheduled away.
                scheduler.modify_job(
                    spec.id,
                    func=spec.func,
                    trigger=trigger,
                    misfire_grace_time=spec.misfire_grace_seconds,
                )
        scheduler.resume()
        self._scheduler = scheduler
        log.info("scheduler %s is active: %s", self.instance, ", ".join(s.id for s in self.specs))

    def _stop(self) -> None:
        scheduler, self._scheduler = self._scheduler, None
        if self.context is not None:
            jobs.deactivate(self.context)
        if scheduler is not None:
            with contextlib.suppress(Exception):
                scheduler.shutdown(wait=False)


async def run_scheduler(
    settings: Settings,
    client: Client,
    stop_event: asyncio.Event,
    *,
    notify_config: NotifyConfig | None = None,
    poll_seconds: float = 5.0,
) -> None:
    """Run this process's scheduler instance (active or standby) until ``stop_event``."""
    service = SchedulerService(
        settings, client, notify_config=notify_config, poll_seconds=poll_seconds
    )
    await service.run(stop_event)

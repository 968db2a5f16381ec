"""Prometheus metrics of the product, computed from the read model at scrape time.

A custom collector on its own registry: each scrape runs the dashboard's grouped queries
(a few milliseconds on 100,000 pathways), so no counter has to be kept in step with the
workflows. Labels carry stages, roles and clock kinds only: never a pathway or a patient.
"""

from collections.abc import Callable, Iterator
from datetime import date

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from core import clock
from reports.dashboard import (
    DEFAULT_DASHBOARD,
    DashboardConfig,
    clock_performance,
    reminders,
    stage_counts,
    tasks_by_role,
    tune,
    week_starts,
)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class ReadModelCollector(Collector):
    """Pathways by stage, overdue tasks by role, clock breaches by kind, outbox backlog."""

    def __init__(
        self,
        engine: Engine,
        today: Callable[[], date] = clock.today,
        config: DashboardConfig = DEFAULT_DASHBOARD,
    ) -> None:
        self._engine = engine
        self._today = today
        self._config = config

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """One consistent read per scrape."""
        today = self._today()
        window_start = week_starts(today, self._config.weeks)[0]
        with self._engine.connect() as conn:
            tune(conn)
            stages = stage_counts(conn)
            tasks = tasks_by_role(conn, today, self._config)
            clocks = clock_performance(conn, today, window_start, self._config)
            sent = reminders(conn, today, self._config)

        by_stage = GaugeMetricFamily(
            "sirt_pathways", "Pathways currently in each stage.", labels=["stage"]
        )
        for s in stages:
            by_stage.add_metric([s.stage.value], s.pathways)
        yield by_stage

        open_tasks = GaugeMetricFamily(
            "sirt_tasks_open", "Open tasks someone can act on now, by role.", labels=["role"]
        )
        overdue = GaugeMetricFamily(
            "sirt_tasks_overdue", "Open tasks past their due date, by role.", labels=["role"]
        )
        for t in tasks:
            open_tasks.add_metric([t.role], t.open)
            overdue.add_metric([t.role], t.overdue)
        yield open_tasks
        yield overdue

        running = GaugeMetricFamily(
            "sirt_clocks_running", "Waiting-time clocks still running, by kind.", labels=["kind"]
        )
        breaches = GaugeMetricFamily(
            "sirt_clock_breaches",
            "Running waiting-time clocks past their target, by kind.",
            labels=["kind"],
        )
        for c in clocks:
            running.add_metric([c.kind.value], c.running)
            breaches.add_metric([c.kind.value], c.running_breached)
        yield running
        yield breaches

        yield GaugeMetricFamily(
            "sirt_outbox_backlog", "Notifications due but not delivered yet.", value=sent.pending
        )
        oldest = sent.oldest_pending_at
        age = 0.0 if oldest is None else max(0.0, (clock.now() - oldest).total_seconds())
        yield GaugeMetricFamily(
            "sirt_outbox_oldest_pending_seconds",
            "Age of the oldest undelivered notification (0 when none).",
            value=age,
        )


def metrics_registry(engine: Engine, today: Callable[[], date] = clock.today) -> CollectorRegistry:
    """A registry holding only the read-model collector (the SDK's metrics are separate)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ReadModelCollector(engine, today))
    return registry


def metrics_response(engine: Engine, today: Callable[[], date] = clock.today) -> bytes:
    """The Prometheus text exposition, for ``GET /metrics`` (media type ``CONTENT_TYPE``)."""
    return generate_latest(metrics_registry(engine, today))

"""Prometheus exposition from the read model."""

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from reports.metrics import metrics_response
from tests.reports.support import DASHBOARD_TODAY, fresh_postgres, insert_dashboard_cohort


@pytest.fixture(scope="module")
def cohort_engine() -> Iterator[Engine]:
    with fresh_postgres() as engine:
        insert_dashboard_cohort(engine)
        yield engine


def test_metrics_expose_the_expected_gauges(cohort_engine: Engine) -> None:
    text = metrics_response(cohort_engine, today=lambda: DASHBOARD_TODAY).decode()
    lines = set(text.splitlines())
    for expected in (
        "# TYPE sirt_pathways gauge",
        'sirt_pathways{stage="FOLLOW_UP"} 2.0',
        'sirt_pathways{stage="DOSIMETRY_PLANNING"} 0.0',
        'sirt_tasks_open{role="coordinator"} 3.0',
        'sirt_tasks_overdue{role="coordinator"} 3.0',
        'sirt_tasks_overdue{role="mdt_clinician"} 2.0',
        'sirt_tasks_overdue{role="interventional_radiologist"} 0.0',
        'sirt_clocks_running{kind="62-day"} 3.0',
        'sirt_clock_breaches{kind="62-day"} 1.0',
        'sirt_clock_breaches{kind="31-day"} 1.0',
        "sirt_outbox_backlog 1.0",
    ):
        assert expected in lines, expected
    assert "pathway_id" not in text and "p1" not in text

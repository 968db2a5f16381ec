"""Reconciliation finds a corrupted read model, repairs it from the workflow, and says so."""

import logging
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from models.tables import PathwayRow, StageHistoryRow, TaskRow
from models.vocab import Stage
from scheduler.reconcile import reconcile, repair_pathway
from scheduler.snapshot import bucket_of, period_of, take_snapshot, waiting_list
from tests.journey import drive_to
from tests.readmodel import assert_read_model_matches


async def test_a_corrupted_read_model_is_repaired_and_reported(
    pathways: Any, caplog: pytest.LogCaptureFixture
) -> None:
    engine: Engine = pathways.engine
    j = await drive_to(pathways, Stage.WORKUP)
    state = await j.live()
    [booking] = state.open_tasks
    # Corrupt it: a wrong stage, a lost task row, an extra one, an edited history entry.
    with Session(engine) as session:
        row = session.get(PathwayRow, j.id)
        assert row is not None
        row.stage, row.overdue = Stage.FOLLOW_UP, True
        session.add(row)
        lost = session.get(TaskRow, (j.id, booking.id))
        assert lost is not None
        session.delete(lost)
        bogus = TaskRow.model_validate(
            {**lost.model_dump(), "id": "bogus-1", "title": "not from the workflow"}
        )
        session.add(bogus)
        first = session.exec(
            select(StageHistoryRow).where(
                col(StageHistoryRow.pathway_id) == j.id, col(StageHistoryRow.ordinal) == 1
            )
        ).one()
        first.reason = "edited by hand"
        session.add(first)
        session.commit()

    caplog.set_level(logging.WARNING, logger="sirt.scheduler.reconcile")
    report = await reconcile(engine, pathways.client)
    mine = sorted(
        (r.what, r.read_model, r.workflow) for r in report.repairs if r.pathway_id == j.id
    )
    assert mine == sorted(
        [
            ("pathway.stage", "FOLLOW_UP", "WORKUP"),
            ("pathway.overdue", "True", "False"),
            (f"task {booking.id}", None, "missing"),
            ("task bogus-1", "present", None),
            ("stage_history 1.reason", "edited by hand", state.history[1].reason),
        ]
    )
    assert j.id in caplog.text and "pathway.stage" in caplog.text
    assert "Testpatient" not in caplog.text and "edited by hand" not in caplog.text
    assert_read_model_matches(engine, state)
    # Repaired means quiet: a second run finds nothing.
    again = await reconcile(engine, pathways.client)
    assert [r for r in again.repairs if r.pathway_id == j.id] == []
    assert j.id not in again.unreachable

    # A read model ahead of the workflow's committed state (a projection in flight) is left alone.
    with Session(engine) as session:
        row = session.get(PathwayRow, j.id)
        assert row is not None
        row.last_seq = state.seq + 1
        session.add(row)
        session.commit()
    assert repair_pathway(engine, state) is None
    await pathways.terminate_all()
    with Session(engine) as session:
        # Closed, so later reconciliations in this database do not query a stopped worker.
        row = session.get(PathwayRow, j.id)
        assert row is not None
        row.stage = Stage.WITHDRAWN
        session.add(row)
        session.commit()


def test_the_waiting_list_snapshot_counts_open_pathways_by_ptl_bucket(engine: Engine) -> None:
    today = date(2027, 2, 1)
    now = datetime(2027, 2, 1, 6, tzinfo=UTC)
    waits = {"a": 0, "b": 28, "c": 29, "d": 62, "e": 63, "f": 104, "g": 105, "h": 400}
    with Session(engine) as session:
        for name, days in waits.items():
            referred = datetime.combine(today - timedelta(days=days), datetime.min.time(), UTC)
            stage = Stage.FOLLOW_UP if name == "h" else Stage.MDT_REVIEW
            session.add(
                PathwayRow(
                    id=f"snap-{name}-{today}",
                    centre="SNAP",
                    stage=stage,
                    stage_entered_at=referred,
                    referred_at=referred,
                    updated_at=referred,
                )
            )
        session.add(
            PathwayRow(
                id=f"snap-closed-{today}",
                centre="SNAP",
                stage=Stage.NOT_SUITABLE,
                stage_entered_at=now,
                referred_at=now - timedelta(days=10),
                updated_at=now,
            )
        )
        session.commit()
    assert [bucket_of(d) for d in (0, 28, 29, 62, 63, 104, 105)] == [
        "0-28",
        "0-28",
        "29-62",
        "29-62",
        "63-104",
        "63-104",
        ">104",
    ]
    take_snapshot(engine, today, now)
    everything = {"0-28": 2, "29-62": 2, "63-104": 2, ">104": 2}
    week = period_of(today)
    assert week == "2027-W05"
    assert waiting_list(engine, week, centre="SNAP", pre_treatment_only=False) == everything
    # Taken twice in a week: replaced, not doubled.
    take_snapshot(engine, today, now + timedelta(hours=1))
    assert waiting_list(engine, centre="SNAP", pre_treatment_only=False) == everything
    # The waiting list proper: those not yet treated.
    waiting = waiting_list(engine, week, centre="SNAP")
    assert waiting == {"0-28": 2, "29-62": 2, "63-104": 2, ">104": 1}

"""`sirt demo seed`: a synthetic cohort through real pathways, left in the read model."""

import asyncio
import base64
import re
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, col, select
from typer.testing import CliRunner, Result

from cli.main import app
from core import clock
from core.db import get_engine
from models.tables import OutcomeRow, PathwayRow, StageHistoryRow, VisitRow
from tests.conftest import TEST_KEY


def _env(tmp: Path) -> dict[str, str]:
    return {
        "DATABASE_URL": f"sqlite:///{tmp / 'sirt.db'}",
        "SIRT_DATA_DIR": str(tmp),
        "SIRT_ENCRYPTION_KEY": base64.b64encode(TEST_KEY).decode(),
    }


async def _sirt(env: dict[str, str], *args: str) -> Result:
    # The command runs its own event loop (cli.runtime.run_async): keep it off this one.
    result = await asyncio.to_thread(CliRunner().invoke, app, list(args), env=env)
    assert "Traceback" not in result.output, result.output
    return result


async def test_seed_leaves_synthetic_pathways_in_the_read_model(tmp_path: Path) -> None:
    env = _env(tmp_path)
    result = await _sirt(env, "demo", "seed", "--patients", "5", "--seed", "7")
    assert result.exit_code == 0, result.output
    assert "Seeded 5 synthetic pathways" in result.output
    assert "SYNTHETIC" in result.output

    engine = get_engine(env["DATABASE_URL"])
    with Session(engine) as session:
        rows = session.exec(select(PathwayRow)).all()
        ids = [r.id for r in rows]
        outcomes = session.exec(select(OutcomeRow).where(col(OutcomeRow.pathway_id).in_(ids)))
        kinds = Counter((o.pathway_id, o.kind) for o in outcomes)
    assert len(rows) == 5
    assert {r.centre for r in rows} == {"SYNTHETIC"}
    followed = [r for r in rows if r.stage in {"FOLLOW_UP", "COMPLETED", "DECEASED"}]
    assert followed
    assert any(kinds[(r.id, "follow_up_visit")] > 0 for r in followed)
    engine.dispose()


async def test_seed_refuses_a_patient_count_out_of_range(tmp_path: Path) -> None:
    env = _env(tmp_path)
    for n in ("0", "501"):
        result = await _sirt(env, "demo", "seed", "--patients", n)
        assert result.exit_code == 2, result.output
        assert "--patients" in result.output
    assert not (tmp_path / "sirt.db").exists()  # refused before touching anything


async def test_seed_refuses_the_real_centre_code(tmp_path: Path) -> None:
    env = _env(tmp_path) | {"SIRT_CENTRE": "LEEDS"}
    result = await _sirt(env, "demo", "seed", "--patients", "1", "--centre", "leeds")
    assert result.exit_code == 2, result.output
    assert "real centre code" in result.output


@pytest.mark.now("2031-06-04T10:00:00+00:00")  # a Wednesday, years after the machine's date
async def test_the_seeded_history_ends_today_so_ops_and_the_audit_report_are_alive(
    tmp_path: Path,
) -> None:
    env = _env(tmp_path)
    result = await _sirt(env, "demo", "seed", "--patients", "5", "--seed", "7")
    assert result.exit_code == 0, result.output
    today = clock.today()
    engine = get_engine(env["DATABASE_URL"])
    with Session(engine) as session:
        ids = [r.id for r in session.exec(select(PathwayRow)).all()]
        entered = [h.entered_at for h in session.exec(select(StageHistoryRow))]
        outcomes = list(session.exec(select(OutcomeRow)))
        visits = [v for v in session.exec(select(VisitRow)) if v.recorded_on is not None]
    recorded = [o.recorded_at for o in outcomes]
    # The history's last day is in the week ending today, and nothing happened after today.
    last = max([*entered, *recorded]).date()
    assert today - timedelta(days=7) < last <= today
    assert max(v.recorded_on for v in visits if v.recorded_on) <= today
    performed = [
        date.fromisoformat(o.data[name])
        for o in outcomes
        for name in ("performed_on", "visit_date", "meeting_date")
        if o.data.get(name)
    ]
    assert performed and max(performed) <= today
    assert f"to {last}" in result.output and "ends today" in result.output
    # Every treatment is in the past, so the audit report counts them all as of today.
    counted = re.search(r"with (\d+) of the (\d+) treated", result.output)
    assert counted is not None and counted[1] == counted[2] and int(counted[1]) > 0
    assert len(ids) == 5 and any(o.kind == "follow_up_visit" for o in outcomes)
    engine.dispose()

"""`sirt demo seed`: a synthetic cohort through real pathways, left in the read model."""

import asyncio
import base64
from collections import Counter
from pathlib import Path

from sqlmodel import Session, col, select
from typer.testing import CliRunner, Result

from cli.main import app
from core.db import get_engine
from models.tables import OutcomeRow, PathwayRow
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

"""`sirt users add/token/list`: the typer sub-app the lead mounts on `sirt`."""

from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.accounts import LoginOutcome, authenticate, principal_for_token
from cli.users import app
from core.db import get_engine

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"SIRT_DATA_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'rm.db'}"}


def test_add_user_then_token(env: dict[str, str]) -> None:
    added = runner.invoke(
        app,
        ["add", "Alice", "--role", "physicist", "--password-stdin"],
        input="s3cret-pass\n",
        env=env,
    )
    assert added.exit_code == 0, added.output
    assert "user alice (physicist) saved" in added.output
    engine = get_engine(env["DATABASE_URL"])
    outcome, who = authenticate(
        engine, "alice", "s3cret-pass", max_failures=5, lockout=timedelta(minutes=15)
    )
    assert outcome == LoginOutcome.OK and who is not None and who.role == "physicist"

    issued = runner.invoke(app, ["token", "alice", "--name", "pacs"], env=env)
    assert issued.exit_code == 0, issued.output
    token = issued.stdout.strip().splitlines()[0]
    principal = principal_for_token(engine, token)
    assert principal is not None and principal.username == "alice"

    listed = runner.invoke(app, ["list"], env=env)
    assert "alice" in listed.output and "physicist" in listed.output


def test_prompted_password_and_errors(env: dict[str, str]) -> None:
    ok = runner.invoke(
        app, ["add", "bob", "--role", "coordinator"], input="long-enough\nlong-enough\n", env=env
    )
    assert ok.exit_code == 0, ok.output
    again = runner.invoke(app, ["add", "bob", "--role", "coordinator", "--no-password"], env=env)
    assert again.exit_code == 2 and "already exists" in again.output
    bad_role = runner.invoke(app, ["add", "carol", "--role", "surgeon", "--no-password"], env=env)
    assert bad_role.exit_code == 2 and "role must be one of" in bad_role.output
    short = runner.invoke(
        app, ["add", "dan", "--role", "ops", "--password-stdin"], input="short\n", env=env
    )
    assert short.exit_code == 2 and "at least 8 characters" in short.output
    nobody = runner.invoke(app, ["token", "nobody"], env=env)
    assert nobody.exit_code == 2 and "no user 'nobody'" in nobody.output

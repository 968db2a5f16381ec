"""Sessions and tokens end when they should, at once.

Measured before: after logout the old session cookie still returned patient names for 8 hours;
five bad passwords from anywhere locked any account, admin included, for everyone.
"""

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from api.accounts import create_user, issue_token, list_tokens
from cli.users import app as users_cli
from core import clock
from tests.api.conftest import API, BASE, csrf_from, make_app

runner = CliRunner()
PASSWORD = "right-password"


@pytest.fixture
def app(idle_workflow_env: WorkflowEnvironment, postgres_url: str, tmp_path: Path) -> FastAPI:
    return make_app(idle_workflow_env, postgres_url, "tq-sessions", tmp_path)


@pytest.fixture
def cli_env(postgres_url: str, tmp_path: Path) -> dict[str, str]:
    return {"DATABASE_URL": postgres_url, "SIRT_DATA_DIR": str(tmp_path)}


def browser(app: FastAPI, address: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url=BASE)


async def sign_in(http: httpx.AsyncClient, username: str, password: str = PASSWORD) -> int:
    page = await http.get("/login")
    r = await http.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_from(page.text)},
    )
    return r.status_code


@pytest.fixture
async def alice(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A coordinator signed in from her browser."""
    create_user(app.state.ctx.engine, "alice-sessions", "coordinator", PASSWORD, replace=True)
    async with browser(app) as http:
        assert await sign_in(http, "alice-sessions") == 303
        assert (await http.get(f"{API}/worklist")).status_code == 200
        yield http


async def replay(app: FastAPI, cookie: str) -> int:
    """The status a copy of the session cookie gets from the API in another client."""
    async with browser(app, "10.9.9.9") as other:
        other.cookies.set("sirt_session", cookie)
        return (await other.get(f"{API}/worklist")).status_code


async def test_a_replayed_cookie_after_logout_gets_401(
    app: FastAPI, alice: httpx.AsyncClient
) -> None:
    cookie = alice.cookies["sirt_session"]
    assert await replay(app, cookie) == 200
    page = await alice.get("/worklist")
    await alice.post("/logout", data={"csrf_token": csrf_from(page.text)})
    assert await replay(app, cookie) == 401


async def test_each_sign_in_is_a_new_session_and_ends_the_one_before(
    app: FastAPI, alice: httpx.AsyncClient
) -> None:
    first = alice.cookies["sirt_session"]
    assert await sign_in(alice, "alice-sessions") == 303
    second = alice.cookies["sirt_session"]
    assert second != first
    assert await replay(app, first) == 401
    assert await replay(app, second) == 200


async def test_a_password_change_signs_out_everywhere(
    app: FastAPI, alice: httpx.AsyncClient, cli_env: dict[str, str]
) -> None:
    cookie = alice.cookies["sirt_session"]
    changed = runner.invoke(
        users_cli,
        ["password", "alice-sessions", "--password-stdin"],
        input="a-new-password\n",
        env=cli_env,
    )
    assert changed.exit_code == 0, changed.output
    assert await replay(app, cookie) == 401
    assert (await alice.get(f"{API}/worklist")).status_code == 401


async def test_deactivating_a_user_ends_sessions_and_tokens_at_once(
    app: FastAPI, alice: httpx.AsyncClient, cli_env: dict[str, str]
) -> None:
    token = issue_token(app.state.ctx.engine, "alice-sessions", "integration")
    bearer = {"Authorization": f"Bearer {token}"}
    assert (await alice.get(f"{API}/worklist", headers=bearer)).status_code == 200
    done = runner.invoke(users_cli, ["deactivate", "alice-sessions"], env=cli_env)
    assert done.exit_code == 0, done.output
    assert "1 session(s) ended" in done.stdout
    assert (await alice.get(f"{API}/worklist")).status_code == 401
    async with browser(app) as other:
        assert (await other.get(f"{API}/worklist", headers=bearer)).status_code == 401
    assert all(
        t.revoked_at is not None for t in list_tokens(app.state.ctx.engine, "alice-sessions")
    )


async def test_an_idle_session_ends_and_so_does_a_long_one(
    app: FastAPI, alice: httpx.AsyncClient
) -> None:
    cookie = alice.cookies["sirt_session"]
    start = clock.now()
    # In use every 20 minutes: the idle timeout (30) never bites, the absolute one (8 h) does.
    minutes = 20
    while minutes < 8 * 60:
        with clock.pinned(start + timedelta(minutes=minutes)):
            assert await replay(app, cookie) == 200
        minutes += 20
    with clock.pinned(start + timedelta(hours=8)):
        assert await replay(app, cookie) == 401
    # A fresh session left alone for 30 minutes is over.
    assert await sign_in(alice, "alice-sessions") == 303
    fresh = alice.cookies["sirt_session"]
    with clock.pinned(start + timedelta(minutes=29)):
        assert await replay(app, fresh) == 200
    with clock.pinned(start + timedelta(minutes=29 + 30)):
        assert await replay(app, fresh) == 401


async def test_tokens_expire_record_their_last_use_and_can_be_revoked(
    app: FastAPI, cli_env: dict[str, str]
) -> None:
    engine = app.state.ctx.engine
    create_user(engine, "feed", "coordinator", None, replace=True)
    issued = runner.invoke(
        users_cli, ["token", "feed", "--name", "feed", "--days", "7"], env=cli_env
    )
    assert issued.exit_code == 0, issued.output
    token = issued.stdout.strip()
    bearer = {"Authorization": f"Bearer {token}"}
    start = clock.now()
    async with browser(app) as http:
        assert (await http.get(f"{API}/worklist", headers=bearer)).status_code == 200
        [info] = [t for t in list_tokens(engine, "feed") if t.revoked_at is None]
        assert info.last_used_at == start
        assert info.expires_at == start + timedelta(days=7)
        with clock.pinned(start + timedelta(days=7)):
            assert (await http.get(f"{API}/worklist", headers=bearer)).status_code == 401
        second = issue_token(engine, "feed", "second")
        bearer2 = {"Authorization": f"Bearer {second}"}
        assert (await http.get(f"{API}/worklist", headers=bearer2)).status_code == 200
        ids = [t.id for t in list_tokens(engine, "feed") if t.name == "second"]
        revoked = runner.invoke(
            users_cli, ["revoke-token", "feed", "--id", str(ids[-1])], env=cli_env
        )
        assert revoked.exit_code == 0, revoked.output
        assert (await http.get(f"{API}/worklist", headers=bearer2)).status_code == 401


async def test_lockout_is_per_address_backs_off_and_an_admin_can_lift_it(
    app: FastAPI, cli_env: dict[str, str]
) -> None:
    create_user(app.state.ctx.engine, "admin-lock", "admin", PASSWORD, replace=True)
    start = clock.now()
    async with browser(app, "203.0.113.7") as attacker, browser(app, "10.1.2.3") as admin:
        for _ in range(4):
            assert await sign_in(attacker, "admin-lock", "guess") == 401
        assert await sign_in(attacker, "admin-lock", "guess") == 429
        assert await sign_in(attacker, "admin-lock") == 429
        # The admin, from their own desk, is not locked out by someone else's guesses.
        assert await sign_in(admin, "admin-lock") == 303
        # The first lockout lasts 15 minutes; the next one from the same address twice that.
        with clock.pinned(start + timedelta(minutes=15)):
            for _ in range(5):
                status = await sign_in(attacker, "admin-lock", "guess")
            assert status == 429
        with clock.pinned(start + timedelta(minutes=15 + 29)):
            assert await sign_in(attacker, "admin-lock") == 429
        with clock.pinned(start + timedelta(minutes=15 + 30)):
            assert await sign_in(attacker, "admin-lock", "guess") == 401
        for _ in range(4):
            await sign_in(attacker, "admin-lock", "guess")
        assert await sign_in(attacker, "admin-lock") == 429
        lifted = runner.invoke(users_cli, ["unlock", "admin-lock"], env=cli_env)
        assert lifted.exit_code == 0, lifted.output
        assert await sign_in(attacker, "admin-lock") == 303

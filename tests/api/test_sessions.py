"""Sign-in for the pages: passwords, session cookie, CSRF and lockout."""

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import Session
from temporalio.testing import WorkflowEnvironment

from api.accounts import create_user
from core import clock
from models.users import LoginThrottleRow
from models.vocab import Role
from tests.api.conftest import API, BASE, Api, Login, csrf_from, login, make_app


@pytest.fixture
async def browser(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A cookie-keeping client, like a browser."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        yield http


async def attempt(http: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    page = await http.get("/login")
    return await http.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_from(page.text)},
    )


async def test_sign_in_lands_on_the_worklist_and_out_again(
    browser: httpx.AsyncClient, demo_users: dict[Role, Login]
) -> None:
    assert (await browser.get("/worklist")).headers["location"] == "/login?next=/worklist"
    r = await attempt(browser, "coordinator", demo_users[Role.COORDINATOR].password)
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    home = await browser.get("/")
    assert home.headers["location"] == "/worklist"
    page = await browser.get("/worklist")
    assert page.status_code == 200 and "<h1>My worklist</h1>" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert "script-src 'none'" in page.headers["content-security-policy"]
    await browser.post("/logout", data={"csrf_token": csrf_from(page.text)})
    assert (await browser.get("/worklist")).status_code == 303


async def test_ops_lands_on_the_pathway_list(
    browser: httpx.AsyncClient, demo_users: dict[Role, Login]
) -> None:
    await login(browser, demo_users[Role.OPS])
    assert (await browser.get("/")).headers["location"] == "/pathways"


async def test_next_is_only_a_local_path(
    browser: httpx.AsyncClient, demo_users: dict[Role, Login]
) -> None:
    page = await browser.get("/login?next=//evil.example/x")
    r = await browser.post(
        "/login",
        data={
            "username": "coordinator",
            "password": demo_users[Role.COORDINATOR].password,
            "csrf_token": csrf_from(page.text),
            "next": "//evil.example/x",
        },
    )
    assert r.headers["location"] == "/"


async def test_wrong_password_is_refused(browser: httpx.AsyncClient) -> None:
    r = await attempt(browser, "physicist", "not-the-password")
    assert r.status_code == 401
    assert "The username or password is not right." in r.text
    assert (await browser.get("/worklist")).status_code == 303


async def test_lockout_after_five_failures_even_with_the_right_password(
    api: Api, browser: httpx.AsyncClient
) -> None:
    create_user(api.engine, "locktest", "coordinator", "right-password", replace=True)
    for _ in range(4):
        assert (await attempt(browser, "locktest", "wrong")).status_code == 401
    assert (await attempt(browser, "locktest", "wrong")).status_code == 429
    locked = await attempt(browser, "locktest", "right-password")
    assert locked.status_code == 429
    assert "locked for 15 minutes" in locked.text
    # Unknown usernames lock the same way, so lockout does not tell which accounts exist.
    for _ in range(5):
        r = await attempt(browser, "nobody-here", "wrong")
    assert r.status_code == 429
    outcomes = [e.outcome for e in api.audit(action="session:login") if e.username == "locktest"]
    assert outcomes[-6:] == ["failed"] * 4 + ["locked", "locked"]
    # When the lockout ends, the right password works again.
    with Session(api.engine) as session:
        row = session.get(LoginThrottleRow, ("locktest", "127.0.0.1"))
        assert row is not None
        row.locked_until = clock.now() - timedelta(seconds=1)
        session.add(row)
        session.commit()
    assert (await attempt(browser, "locktest", "right-password")).status_code == 303


async def test_lockout_is_configurable(
    workflow_env: WorkflowEnvironment, postgres_url: str, tmp_path: Path
) -> None:
    app = make_app(workflow_env, postgres_url, "tq-x", tmp_path, lockout_failures=2)
    create_user(app.state.ctx.engine, "locktest2", "physicist", "right-password", replace=True)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        assert (await attempt(http, "locktest2", "wrong")).status_code == 401
        assert (await attempt(http, "locktest2", "wrong")).status_code == 429


async def test_login_without_csrf_token_is_refused(
    browser: httpx.AsyncClient, demo_users: dict[Role, Login]
) -> None:
    password = demo_users[Role.COORDINATOR].password
    r = await browser.post("/login", data={"username": "coordinator", "password": password})
    assert r.status_code == 403
    assert (await browser.get("/worklist")).status_code == 303


async def test_form_posts_without_the_csrf_token_are_refused(
    api: Api, browser: httpx.AsyncClient, demo_users: dict[Role, Login]
) -> None:
    pid = await api.refer()
    token = await login(browser, demo_users[Role.MDT_CLINICIAN])
    url = f"/tasks/{pid}/mdt_decision-1/snooze"
    assert (await browser.post(url, data={"days": "3"})).status_code == 403
    forged = await browser.post(url, data={"days": "3", "csrf_token": "forged"})
    assert forged.status_code == 403
    assert api.audit(action="task:snooze")[-1].detail == "csrf"
    ok = await browser.post(url, data={"days": "3", "csrf_token": token})
    assert ok.status_code == 303
    assert api.audit(pid, "task:snooze")[-1].outcome == "ok"


async def test_cookie_authenticated_api_writes_need_the_csrf_header(
    api: Api, browser: httpx.AsyncClient, demo_users: dict[Role, Login]
) -> None:
    pid = await api.refer()
    token = await login(browser, demo_users[Role.MDT_CLINICIAN])
    url = f"{API}/tasks/{pid}/mdt_decision-1/snooze"
    assert (await browser.get(f"{API}/worklist")).status_code == 200  # reads need no token
    assert (await browser.post(url, json={"days": 1})).status_code == 403
    ok = await browser.post(url, json={"days": 1}, headers={"X-CSRF-Token": token})
    assert ok.status_code == 200

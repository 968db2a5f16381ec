"""The Temporal Web UI only through the app: a real dev server's UI on loopback under
/temporal, reached through the app's proxy by signed-in ops and admin only.

Measured before: the UI (8233) needed no login, and its terminate action ended a pathway
without an audit row.
"""

import asyncio
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import Session, col, select
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from api.settings import ApiSettings
from core.config import Settings
from core.devserver import DevServer, free_port
from models.users import AuditEventRow
from models.vocab import Role
from tests.api.conftest import BASE, Login, login

pytestmark = pytest.mark.real_time


@pytest.fixture(scope="module")
def ui_settings(tmp_path_factory: pytest.TempPathFactory, postgres_url: str) -> Iterator[Settings]:
    """A dev server with its UI on a loopback port under /temporal (as `sirt dev` starts it)."""
    tmp = tmp_path_factory.mktemp("ui")
    settings = Settings(
        data_dir=tmp,
        temporal_address=f"127.0.0.1:{free_port()}",
        temporal_ui_port=free_port(),
        database_url=postgres_url,
        web_port=free_port(),
    )
    server = DevServer.from_settings(settings)
    assert "--ui-public-path" in server.command() and "--ui-ip" in server.command()
    asyncio.run(server.start(timeout=90))
    with server:
        yield settings


@pytest.fixture
async def app(ui_settings: Settings, idle_workflow_env: WorkflowEnvironment) -> FastAPI:
    return create_app(
        ui_settings,
        client=idle_workflow_env.client,
        api_settings=ApiSettings(session_secret="test-session-secret"),
    )


@pytest.fixture
async def browser(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        yield http


async def test_anonymous_goes_to_the_login_and_other_roles_get_403(
    browser: httpx.AsyncClient, demo_users: dict[Role, Login]
) -> None:
    r = await browser.get("/temporal/")
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=/temporal/"
    await login(browser, demo_users[Role.COORDINATOR])
    assert (await browser.get("/temporal/")).status_code == 403


async def test_ops_see_the_ui_but_may_not_terminate(
    browser: httpx.AsyncClient, demo_users: dict[Role, Login]
) -> None:
    await login(browser, demo_users[Role.OPS])
    page = await browser.get("/temporal/")
    assert page.status_code == 200
    assert "<html" in page.text.lower()
    terminate = "/temporal/api/v1/namespaces/default/workflows/pathway-x/terminate"
    assert (await browser.post(terminate, json={"reason": "x"})).status_code == 403


async def test_an_admins_write_through_the_ui_is_forwarded_and_audited(
    app: FastAPI, browser: httpx.AsyncClient, demo_users: dict[Role, Login]
) -> None:
    await login(browser, demo_users[Role.ADMIN])
    terminate = "/temporal/api/v1/namespaces/default/workflows/pathway-x/terminate"
    r = await browser.post(terminate, json={"reason": "test"})
    # The UI server answers (no such workflow, or its own CSRF check), not the app.
    assert "may not do this" not in r.text
    with Session(app.state.ctx.engine) as session:
        rows = session.exec(
            select(AuditEventRow).where(col(AuditEventRow.action) == "engine:ui-write")
        ).all()
    row = rows[-1]
    assert (row.username, row.role, row.detail) == ("admin", "admin", f"POST {terminate}")
    assert row.outcome == ("ok" if r.status_code < 400 else "error")

"""Fixtures for the web app: the real app on the time-skipping server and PostgreSQL.

The app gets the test environment's client and clock, and the `pathways` worker's task queue,
so a referral through the API runs the real workflow and lands in the PostgreSQL read model.
"""

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlmodel import Session, col, func, select
from temporalio.testing import WorkflowEnvironment

from api.accounts import issue_token
from api.context import AppContext
from api.main import create_app
from api.seed import seed_demo_users
from api.settings import ApiSettings
from core.clock import local_date
from core.config import Settings
from core.db import get_engine
from models.tables import PathwayRow
from models.users import AuditEventRow
from models.vocab import Role
from tests import payloads

BASE = "http://sirt.test"
API = "/api/v1"
ROLES = [
    Role.COORDINATOR,
    Role.MDT_CLINICIAN,
    Role.INTERVENTIONAL_RADIOLOGIST,
    Role.PHYSICIST,
    Role.OPS,
    Role.ADMIN,
]
# A well-formed pathway id that no pathway has.
NO_SUCH_PATHWAY = "pathway-00000000-0000-4000-8000-000000000000"


@dataclass(frozen=True)
class Login:
    """A demo user's credentials."""

    username: str
    password: str
    role: Role


@pytest.fixture(scope="session")
def demo_users(postgres_url: str) -> dict[Role, Login]:
    """One demo user per role in the test database (seeding is idempotent)."""
    seeded = seed_demo_users(get_engine(postgres_url))
    return {Role(role): Login(u, p, Role(role)) for u, p, role in seeded}


@pytest.fixture(scope="session")
def tokens(postgres_url: str, demo_users: dict[Role, Login]) -> dict[Role, str]:
    """A bearer token per role."""
    engine = get_engine(postgres_url)
    return {
        role: issue_token(engine, login.username, "tests") for role, login in demo_users.items()
    }


def make_app(
    env: WorkflowEnvironment, db_url: str, task_queue: str, tmp: Path, **api: Any
) -> FastAPI:
    """The app as `sirt dev` builds it, wired to the test server and database."""
    settings = Settings(
        database_url=db_url, task_queue=task_queue, centre="LEEDS", data_dir=tmp / "data"
    )
    api_settings = ApiSettings(
        **{"session_secret": "test-session-secret", "refer_wait_s": 10, **api}
    )
    return create_app(
        settings, client=env.client, api_settings=api_settings, clock=env.get_current_time
    )


class Api:
    """An HTTP client for the app with helpers for the usual calls."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        tokens: dict[Role, str],
        app: FastAPI,
        env: WorkflowEnvironment,
    ) -> None:
        self.http = http
        self.env = env
        self.tokens = tokens
        self.engine: Engine = app.state.ctx.engine
        self.ctx: AppContext = app.state.ctx
        self.clock = self.ctx.clock

    async def today(self) -> date:
        """Today (the centre's date) by the app's clock, which is the time-skipping server's."""
        now: datetime = await self.clock()
        return local_date(now)

    def auth(self, role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    async def get(self, role: Role, path: str, **kw: Any) -> httpx.Response:
        return await self.http.get(API + path, headers=self.auth(role), **kw)

    async def post(self, role: Role, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        return await self.http.post(API + path, headers=self.auth(role), json=json, **kw)

    async def refer(self, **overrides: Any) -> str:
        """Refer a complete (or overridden) referral as the coordinator; the pathway id."""
        body = payloads.referral(**overrides).model_dump(mode="json")
        r = await self.post(Role.COORDINATOR, "/pathways", body)
        assert r.status_code == 201, r.text
        pathway_id: str = r.json()["pathway_id"]
        return pathway_id

    async def step(self, role: Role, pathway_id: str, step: str, body: Any) -> httpx.Response:
        return await self.post(role, f"/pathways/{pathway_id}/steps/{step}", body)

    def row(self, pathway_id: str) -> dict[str, Any]:
        """The pathway's read-model row, to compare before and after a refused step."""
        with Session(self.engine) as session:
            row = session.get(PathwayRow, pathway_id)
            assert row is not None
            return row.model_dump()

    def audit(self, pathway_id: str | None = None, action: str | None = None) -> list[Any]:
        with Session(self.engine) as session:
            stmt = select(AuditEventRow).order_by(col(AuditEventRow.id))
            if pathway_id is not None:
                stmt = stmt.where(col(AuditEventRow.pathway_id) == pathway_id)
            if action is not None:
                stmt = stmt.where(col(AuditEventRow.action) == action)
            return list(session.exec(stmt).all())


def last_audit_id(engine: Engine) -> int:
    with Session(engine) as session:
        return session.exec(select(func.max(AuditEventRow.id))).one() or 0


def referred_since(engine: Engine, audit_id: int) -> list[str]:
    """Pathways referred (through the API or the pages) after that audit event."""
    with Session(engine) as session:
        stmt = select(AuditEventRow.pathway_id).where(
            col(AuditEventRow.id) > audit_id,
            col(AuditEventRow.action) == "pathway:refer",
            col(AuditEventRow.outcome) == "ok",
        )
        return [p for p in session.exec(stmt).all() if p]


@pytest.fixture
async def app(
    pathways: Any, workflow_env: WorkflowEnvironment, postgres_url: str, tmp_path: Path
) -> AsyncIterator[FastAPI]:
    """The app with a worker on its own task queue (the `pathways` fixture).

    Pathways the test referred are handed to `pathways` to terminate: one left running would
    hold the time-skipping clock for later tests.
    """
    engine = get_engine(postgres_url)
    start = last_audit_id(engine)
    yield make_app(workflow_env, postgres_url, pathways.task_queue, tmp_path)
    pathways.started.extend(referred_since(engine, start))


@pytest.fixture
async def api(
    app: FastAPI, tokens: dict[Role, str], workflow_env: WorkflowEnvironment
) -> AsyncIterator[Api]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        yield Api(http, tokens, app, workflow_env)


CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    """The CSRF token of the first form on a page."""
    match = CSRF_INPUT.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


async def login(http: httpx.AsyncClient, login: Login) -> str:
    """Sign in through the login page; returns the session's CSRF token."""
    page = await http.get("/login")
    r = await http.post(
        "/login",
        data={
            "username": login.username,
            "password": login.password,
            "csrf_token": csrf_from(page.text),
        },
    )
    assert r.status_code == 303, r.text
    return csrf_from((await http.get("/pathways")).text)

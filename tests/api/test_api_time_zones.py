"""Every datetime the API returns carries its time zone, on SQLite too.

Measured before: API datetimes carried no time zone (SQLite returns naive datetimes).
"""

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.accounts import issue_token
from api.seed import seed_demo_users
from core.db import get_engine
from models.vocab import Role
from tests.api.conftest import BASE, Api, make_app

ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    """The read model on SQLite, where datetimes come back naive."""
    return sqlite_url


def _datetimes(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [d for v in value.values() for d in _datetimes(v)]
    if isinstance(value, list):
        return [d for v in value for d in _datetimes(v)]
    return [value] if isinstance(value, str) and ISO_DATETIME.match(value) else []


@pytest.fixture
async def api(
    pathways: Any, workflow_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> AsyncIterator[Api]:
    """The app and its worker both on the SQLite read model, with tokens of its own."""
    engine = get_engine(sqlite_url)
    tokens = {Role(role): issue_token(engine, name) for name, _, role in seed_demo_users(engine)}
    app = make_app(workflow_env, sqlite_url, pathways.task_queue, tmp_path)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        yield Api(http, tokens, app, workflow_env)


async def test_every_api_datetime_names_its_zone(api: Api, pathways: Any) -> None:
    pid = await api.refer()
    pathways.started.append(pid)
    found: list[str] = []
    for role, path in [
        (Role.COORDINATOR, f"/pathways/{pid}"),
        (Role.COORDINATOR, "/pathways"),
        (Role.MDT_CLINICIAN, "/worklist"),
        (Role.ADMIN, "/audit"),
    ]:
        r = await api.get(role, path)
        assert r.status_code == 200, (path, r.text)
        found += _datetimes(r.json())
    assert len(found) >= 5
    assert all(d.endswith(("Z", "+00:00")) for d in found), found

"""Fixtures of the outbound tests: a worker with a read model of the test's own (its events
are all the outbox holds) and a JetStream stream of the test's own."""

import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from core.db import get_engine, migrate
from tests.conftest import Pathways
from worker import build_worker


@pytest.fixture
async def own_pathways(workflow_env, tmp_path: Path) -> AsyncIterator[Pathways]:
    """A worker writing a read model of this test's own: its events are all the outbox holds."""
    url = f"sqlite:///{tmp_path / 'events.db'}"
    migrate(url)
    engine = get_engine(url)
    with ThreadPoolExecutor(max_workers=8) as executor:
        queue = f"tq-{uuid.uuid4()}"
        async with build_worker(workflow_env.client, engine, queue, executor):
            p = Pathways(workflow_env, workflow_env.client, queue, engine)
            yield p
            await p.terminate_all()


@pytest.fixture
def stream() -> str:
    """A JetStream stream of this test's own (deleted at its end)."""
    return f"SIRT_TEST_{uuid.uuid4().hex[:8].upper()}"

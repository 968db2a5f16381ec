"""Ops see, per sink, how many pathway events wait to be delivered and how long the oldest
has waited (the broker lag), on the dashboard, its page and /metrics."""

import re
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session, col, func, select

from api.accounts import issue_token
from api.seed import seed_demo_users
from core.db import get_engine, migrate
from models.events import PathwayEventRow
from models.vocab import Role, Stage
from notifications.store import utc
from outbound.publish import WebhookSink, publish_pending, sink_backlogs
from tests.api.conftest import BASE, Login, login, make_app
from tests.conftest import Pathways
from tests.journey import drive_to
from tests.outbound.support import SECRET, Receiver
from tests.pinned import DEFAULT
from worker import build_worker


class OwnApp:
    """The app and a worker on a read model of this test's own: its events are all there is."""

    def __init__(self, pathways: Pathways, http: httpx.AsyncClient, ops: Login) -> None:
        self.pathways, self.http, self.ops = pathways, http, ops
        self.token = issue_token(pathways.engine, ops.username, "tests")

    async def get(self, path: str) -> httpx.Response:
        return await self.http.get(path, headers={"Authorization": f"Bearer {self.token}"})


@pytest.fixture
async def own_app(workflow_env, tmp_path: Path) -> AsyncIterator[OwnApp]:
    url = f"sqlite:///{tmp_path / 'backlog.db'}"
    migrate(url)
    engine = get_engine(url)
    [ops] = [Login(u, p, Role(r)) for u, p, r in seed_demo_users(engine) if r == Role.OPS]
    queue = f"tq-{uuid.uuid4()}"
    with ThreadPoolExecutor(max_workers=8) as executor:
        async with build_worker(workflow_env.client, engine, queue, executor):
            pathways = Pathways(workflow_env, workflow_env.client, queue, engine)
            app = make_app(workflow_env, url, queue, tmp_path)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
                yield OwnApp(pathways, http, ops)
            await pathways.terminate_all()


def outbox(engine: Any) -> tuple[int, Any]:
    with Session(engine) as s:
        return s.exec(select(func.count(), func.min(col(PathwayEventRow.time)))).one()


def scrape(text: str) -> dict[str, float]:
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("sirt_events_")
    }


async def test_the_webhook_took_everything_while_the_broker_lags_two_days(own_app):
    engine = own_app.pathways.engine
    await drive_to(own_app.pathways, Stage.MDT_REVIEW)
    await own_app.pathways.env.sleep(timedelta(days=2))
    with Receiver() as receiver:
        async with httpx.AsyncClient(timeout=10) as http:
            sent = await publish_pending(
                engine, {"webhook": WebhookSink(receiver.url, SECRET, http)}
            )
    total, first = outbox(engine)
    # Referred, to the MDT, the MDT decision's task opened: the webhook took all three; the
    # broker (NATS) is not configured here, so its queue holds them since the referral.
    assert (total, sent) == (3, {"webhook": 3})

    overview = (await own_app.get("/api/v1/ops/dashboard")).json()
    webhook, broker = overview["events"]
    assert webhook == {
        "sink": "webhook",
        "configured": False,
        "queued": 0,
        "oldest_queued_at": None,
        "lag_seconds": 0.0,
    }
    assert (broker["sink"], broker["configured"], broker["queued"]) == ("broker", False, total)
    assert datetime.fromisoformat(broker["oldest_queued_at"]) == utc(first)
    two_days = timedelta(days=2).total_seconds()
    assert two_days <= broker["lag_seconds"] < two_days + 3600

    metrics = scrape((await own_app.get("/metrics")).text)
    assert metrics['sirt_events_queued{sink="webhook"}'] == 0
    assert metrics['sirt_events_queued{sink="broker"}'] == total
    assert metrics['sirt_events_oldest_queued_seconds{sink="webhook"}'] == 0
    assert two_days <= metrics['sirt_events_oldest_queued_seconds{sink="broker"}'] < two_days + 3600

    await login(own_app.http, own_app.ops)
    page = (await own_app.http.get("/ops")).text
    # The cells of each sink's row, markup classes aside.
    cells = {
        sink: re.findall(r"<td[^>]*>([^<]*)</td>", row)
        for sink, row in re.findall(r'<tr[^>]*data-sink="(\w+)"[^>]*>(.*?)</tr>', page)
    }
    assert cells["broker"] == [
        "NATS JetStream",
        "no",
        str(total),
        f"{first:%d %b %Y %H:%M}",
        "2 d 0 h",
    ]
    assert cells["webhook"] == ["webhook", "no", "0", "\N{EN DASH}", "0 s"]


def test_the_lag_is_the_age_of_the_oldest_queued_event_at_the_time_asked(tmp_path: Path):
    """Counted per sink from the outbox alone, at a given instant (no wall clock)."""
    url = f"sqlite:///{tmp_path / 'lag.db'}"
    migrate(url)
    engine = get_engine(url)
    assert [(b.sink, b.queued, b.lag_seconds) for b in sink_backlogs(engine, _at(0))] == [
        ("webhook", 0, 0.0),
        ("broker", 0, 0.0),
    ]
    with Session(engine) as s:
        for i, (webhook, broker) in enumerate([(True, True), (True, False), (False, False)]):
            s.add(
                PathwayEventRow(
                    id=f"pathway-x:stage:{i}",
                    pathway_id="pathway-x",
                    type="stage_changed",
                    time=_at(i * 60),
                    data={"stage": "MDT_REVIEW", "ordinal": i},
                    webhook_at=_at(i * 60 + 1) if webhook else None,
                    broker_at=_at(i * 60 + 1) if broker else None,
                )
            )
        s.commit()
    got = sink_backlogs(engine, _at(300), configured=["broker"])
    assert [(b.sink, b.configured, b.queued, b.oldest_queued_at, b.lag_seconds) for b in got] == [
        ("webhook", False, 1, _at(120), 180.0),
        ("broker", True, 2, _at(60), 240.0),
    ]


def _at(seconds: int) -> datetime:
    return DEFAULT + timedelta(seconds=seconds)

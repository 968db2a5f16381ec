"""Delivery of pathway events: outbox -> CloudEvents 1.0 -> each sink, at least once.

Each event is marked delivered to a sink only after the sink took it, one by one, so a
publisher killed mid-batch resends at most the event in flight; receivers dedupe on the
event id (JetStream does so itself through ``Nats-Msg-Id``). A sink that fails stops its
pass: its events stay queued, in order, and drain when it is back.
"""

import asyncio
import contextlib
import hashlib
import hmac
import logging
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Protocol

import httpx
import nats
from cloudevents.core.bindings.http import to_structured_event
from cloudevents.core.v1.event import CloudEvent
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from pydantic import BaseModel, Field
from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from core import clock
from core.config import Settings
from core.db import get_engine
from models.events import PathwayEventRow
from outbound.events import TYPE_PREFIX

log = logging.getLogger("sirt.events")

SOURCE = "urn:sirt-pathway"
SIGNATURE_HEADER = "X-Sirt-Signature"


def cloud_event(row: PathwayEventRow) -> CloudEvent:
    """The CloudEvent of an outbox row: subject is the pseudonymous pathway id."""
    return CloudEvent(
        attributes={
            "id": row.id,
            "source": SOURCE,
            "type": TYPE_PREFIX + row.type,
            "subject": row.pathway_id,
            # SQLite hands instants back naive; they were written in UTC.
            "time": row.time if row.time.tzinfo else row.time.replace(tzinfo=UTC),
            "datacontenttype": "application/json",
        },
        data=row.data,
    )


def signature(secret: bytes, body: bytes) -> str:
    """HMAC-SHA256 of the body, as the webhook header carries it."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class Sink(Protocol):
    """Somewhere events go; ``send`` returns only once the sink has taken the event."""

    name: str

    async def send(self, event: CloudEvent) -> None: ...


class WebhookSink:
    """HTTP POST in structured mode (application/cloudevents+json), HMAC-signed."""

    name = "webhook"

    def __init__(self, url: str, secret: bytes, http: httpx.AsyncClient) -> None:
        self.url, self.secret, self.http = url, secret, http

    async def send(self, event: CloudEvent) -> None:
        """POST it; any non-2xx is a failure (the event stays queued)."""
        message = to_structured_event(event)
        headers = {**message.headers, SIGNATURE_HEADER: signature(self.secret, message.body)}
        r = await self.http.post(self.url, content=message.body, headers=headers)
        r.raise_for_status()


class JetStreamSink:
    """NATS JetStream: subject ``<prefix>.<event>``, deduplicated on ``Nats-Msg-Id``."""

    name = "broker"

    def __init__(self, url: str, stream: str = "SIRT_PATHWAY", prefix: str = "sirt.pathway"):
        self.url, self.stream, self.prefix = url, stream, prefix
        self._js: JetStreamContext | None = None
        self._nc: NATS | None = None

    async def _jetstream(self) -> JetStreamContext:
        if self._js is None:
            # nats-py retries a refused first connection for about two minutes: bound it.
            self._nc = await asyncio.wait_for(
                nats.connect(self.url, allow_reconnect=False, connect_timeout=2), 5
            )
            self._js = self._nc.jetstream()
            await self._js.add_stream(name=self.stream, subjects=[f"{self.prefix}.>"])
        return self._js

    async def send(self, event: CloudEvent) -> None:
        """Publish and wait for the stream's ack."""
        message = to_structured_event(event)
        kind = str(event.get_type()).removeprefix(TYPE_PREFIX)
        try:
            js = await self._jetstream()
            await js.publish(
                f"{self.prefix}.{kind}",
                message.body,
                headers={**message.headers, "Nats-Msg-Id": str(event.get_id())},
                timeout=5,
            )
        except Exception:
            await self.close()  # reconnect on the next pass
            raise

    async def close(self) -> None:
        """Drop the connection."""
        nc, self._nc, self._js = self._nc, None, None
        if nc is not None and not nc.is_closed:
            await nc.close()


_DELIVERED = {"webhook": PathwayEventRow.webhook_at, "broker": PathwayEventRow.broker_at}


def pending(engine: Engine, sink: str, limit: int) -> list[PathwayEventRow]:
    """Events not yet delivered to ``sink``, oldest first."""
    column = _DELIVERED[sink]
    with Session(engine) as s:
        rows = s.exec(
            select(PathwayEventRow)
            .where(col(column).is_(None))
            .order_by(col(PathwayEventRow.time), col(PathwayEventRow.id))
            .limit(limit)
        ).all()
    return list(rows)


def mark_delivered(engine: Engine, sink: str, event_id: str, at: datetime) -> None:
    """Record that ``sink`` took the event."""
    with Session(engine) as s:
        row = s.get(PathwayEventRow, event_id)
        assert row is not None
        setattr(row, f"{sink}_at", at)
        s.add(row)
        s.commit()


class SinkBacklog(BaseModel):
    """Events queued for one sink and not delivered yet, and how long the oldest has waited."""

    sink: str = Field(description="webhook, or broker (NATS JetStream).")
    configured: bool = Field(description="Whether this process's settings name the sink.")
    queued: int
    oldest_queued_at: datetime | None
    lag_seconds: float = Field(description="Age of the oldest queued event (0 when none).")


def sink_backlogs(
    engine: Engine, now: datetime, configured: Collection[str] = ()
) -> list[SinkBacklog]:
    """Per sink: events queued, the oldest one's time and its age at ``now`` (the lag)."""
    out = []
    with Session(engine) as s:
        for sink, column in _DELIVERED.items():
            n, oldest = s.exec(
                select(func.count(), func.min(PathwayEventRow.time)).where(col(column).is_(None))
            ).one()
            # SQLite hands instants back naive; they were written in UTC.
            at = None if oldest is None else oldest.replace(tzinfo=oldest.tzinfo or UTC)
            lag = 0.0 if at is None else max(0.0, (now - at).total_seconds())
            out.append(SinkBacklog(sink=sink, configured=sink in configured, queued=n,
                                   oldest_queued_at=at, lag_seconds=lag))  # fmt: skip
    return out


def backlog(engine: Engine) -> dict[str, int]:
    """Events waiting per sink."""
    return {b.sink: b.queued for b in sink_backlogs(engine, clock.now())}


def configured_sink_names(settings: Settings) -> list[str]:
    """The sinks the settings name, without connecting to any."""
    named = {"webhook": settings.events_webhook_url, "broker": settings.events_nats_url}
    return [sink for sink, url in named.items() if url]


def exposition(engine: Engine, now: datetime, configured: Collection[str] = ()) -> bytes:
    """The backlog in Prometheus text format, for /metrics."""
    registry = CollectorRegistry()
    queued = Gauge(
        "sirt_events_queued", "Pathway events queued for a sink, not yet delivered", ["sink"],
        registry=registry,
    )  # fmt: skip
    lag = Gauge(
        "sirt_events_oldest_queued_seconds",
        "Age of the oldest pathway event queued for a sink (0 when none): the sink's lag",
        ["sink"],
        registry=registry,
    )
    for b in sink_backlogs(engine, now, configured):
        queued.labels(b.sink).set(b.queued)
        lag.labels(b.sink).set(b.lag_seconds)
    return generate_latest(registry)


async def publish_pending(
    engine: Engine, sinks: Mapping[str, Sink], limit: int = 200
) -> dict[str, int]:
    """One pass: each sink gets its queued events in order; how many each took."""
    sent: dict[str, int] = {}
    for name, sink in sinks.items():
        sent[name] = 0
        for row in await asyncio.to_thread(pending, engine, name, limit):
            try:
                await sink.send(cloud_event(row))
            except Exception as exc:  # an outage: keep the queue, try again next pass
                log.warning(
                    "events: %s unavailable (%s); %s queued", name, type(exc).__name__, row.id
                )
                break
            await asyncio.to_thread(mark_delivered, engine, name, row.id, clock.now())
            sent[name] += 1
    return sent


async def run_publisher(
    engine: Engine, sinks: Mapping[str, Sink], stop: asyncio.Event, interval: float = 1.0
) -> None:
    """Publish until ``stop``, a pass every ``interval`` seconds (at once while draining)."""
    while not stop.is_set():
        sent = await publish_pending(engine, sinks)
        if any(sent.values()):
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)


def configured_sinks(settings: Settings, http: httpx.AsyncClient) -> dict[str, Sink]:
    """The sinks the settings name (none: events stay queued until one is configured)."""
    sinks: dict[str, Sink] = {}
    if settings.events_webhook_url:
        if not settings.events_webhook_secret:
            raise ValueError("SIRT_EVENTS_WEBHOOK_SECRET: the webhook needs a signing secret")
        secret = settings.events_webhook_secret.encode()
        sinks["webhook"] = WebhookSink(settings.events_webhook_url, secret, http)
    if settings.events_nats_url:
        sinks["broker"] = JetStreamSink(settings.events_nats_url)
    return sinks


async def run_configured(settings: Settings, stop: asyncio.Event) -> None:
    """The publisher with the configured sinks, until ``stop``."""
    engine = get_engine(settings.resolved_database_url)
    async with httpx.AsyncClient(timeout=10) as http:
        sinks = configured_sinks(settings, http)
        if sinks:
            await run_publisher(engine, sinks, stop)

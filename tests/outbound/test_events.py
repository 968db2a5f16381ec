"""Pathway events out as CloudEvents, to a real webhook receiver and NATS JetStream on
loopback: the publisher killed mid-batch loses nothing, and the one event it had in flight
arrives twice with the same id, which is what receivers dedupe on."""

import asyncio
import json
import signal

import httpx
import nats
from sqlmodel import Session

from core.devserver import free_port
from models.events import PathwayEventRow
from models.vocab import Stage
from outbound.publish import JetStreamSink, Sink, WebhookSink, backlog, publish_pending
from tests.journey import drive_to
from tests.outbound.support import NATS_URL, SECRET, Receiver, events, stream_count
from tests.processes import poll_until, sirt_env, sirt_process


async def test_events_survive_a_killed_publisher_and_an_outage_with_none_lost(
    own_pathways, tmp_path, stream
):
    j = await drive_to(own_pathways, Stage.WORKUP)
    engine = own_pathways.engine
    queued = events(engine)
    assert {e.type for e in queued} >= {"stage_changed", "task_opened", "task_closed"}
    total = len(queued)
    assert total > 5

    with Receiver(hold_at=5) as receiver:
        env = sirt_env(
            tmp_path,
            DATABASE_URL=str(engine.url),
            SIRT_EVENTS_WEBHOOK_URL=receiver.url,
            SIRT_EVENTS_WEBHOOK_SECRET=SECRET.decode(),
        )
        with sirt_process(tmp_path, ["events", "publish"], env) as publisher:
            await asyncio.to_thread(
                poll_until,
                lambda: len(receiver.bodies) >= 5,
                "five deliveries",
                60,
                publisher.popen,
                publisher.output,
            )
            publisher.popen.send_signal(signal.SIGKILL)
            publisher.popen.wait(30)
        receiver.release.set()
        assert backlog(engine)["webhook"] == total - 4, "the 5th was taken but never marked"

        # The broker is down (nothing listens on this port): its events stay queued.
        async with httpx.AsyncClient(timeout=10) as http:
            down = JetStreamSink(f"nats://127.0.0.1:{free_port()}", stream=stream)
            assert await publish_pending(engine, {"broker": down}) == {"broker": 0}
            assert backlog(engine)["broker"] == total

            # Both back: everything drains.
            broker = JetStreamSink(NATS_URL, stream=stream)
            sinks: dict[str, Sink] = {
                "webhook": WebhookSink(receiver.url, SECRET, http),
                "broker": broker,
            }
            assert await publish_pending(engine, sinks) == {"webhook": total - 4, "broker": total}
            await broker.close()
        assert backlog(engine) == {"webhook": 0, "broker": 0}

    ids = {e.id for e in queued}
    assert set(receiver.ids) == ids, "none lost"
    assert len(receiver.ids) == total + 1, "exactly the event in flight arrived twice"
    assert len(set(receiver.ids)) == total, "deduped on id"
    assert receiver.bad_signatures == 0
    first = receiver.bodies[0]
    assert first["specversion"] == "1.0"
    assert first["type"].startswith("uk.nhs.sirt.pathway.")
    assert all(b["subject"] == j.id for b in receiver.bodies)
    text = json.dumps(receiver.bodies)
    assert "Testpatient" not in text and "9434765919" not in text and "943 476 5919" not in text

    # JetStream took each event once, and drops a resend of the same id by itself.
    assert await stream_count(stream) == total
    with Session(engine) as s:
        again = s.get(PathwayEventRow, queued[0].id)
        assert again is not None
        again.broker_at = None
        s.add(again)
        s.commit()
    broker = JetStreamSink(NATS_URL, stream=stream)
    assert await publish_pending(engine, {"broker": broker}) == {"broker": 1}
    await broker.close()
    assert await stream_count(stream) == total
    nc = await nats.connect(NATS_URL)
    await nc.jetstream().delete_stream(stream)
    await nc.close()

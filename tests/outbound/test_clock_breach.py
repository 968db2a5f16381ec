"""A waiting-time clock that passes its target while the patient still waits is announced
once, as a CloudEvent queued by the projection with the batch that recorded it, and
delivered to a real webhook receiver and NATS JetStream on loopback."""

from datetime import timedelta
from typing import Any

import httpx
import nats
from sqlmodel import Session, select

from models.events import PathwayEventRow
from models.vocab import Stage
from outbound.publish import JetStreamSink, Sink, WebhookSink, backlog, publish_pending
from tests.journey import drive_to
from tests.outbound.support import NATS_URL, SECRET, Receiver, stream_count


def breaches(engine: Any) -> list[PathwayEventRow]:
    with Session(engine) as s:
        stmt = select(PathwayEventRow).where(PathwayEventRow.type == "clock_breached")
        return list(s.exec(stmt).all())


async def test_a_62_day_clock_paused_for_patient_choice_breaches_on_its_later_date_once(
    own_pathways, stream
):
    j = await drive_to(own_pathways, Stage.MDT_REVIEW)
    referred = await j.today()  # day 0 of the 62-day clock
    # On day 20 the patient asks to wait until after a family holiday; back on day 30.
    await j.sleep(20)
    pause = {"kind": "62-day", "start": str(await j.today()), "reason": "patient's choice"}
    await j.step("pause-clock", pause)
    await j.sleep(10)
    await j.step("resume-clock", {"kind": "62-day", "end": str(await j.today())})
    # The standard is met by treatment on day 62 + 10 paused days: still waiting that day ...
    last_day = referred + timedelta(days=72)
    await j.sleep((last_day - await j.today()).days)
    assert breaches(own_pathways.engine) == []
    # ... and breached the next.
    await j.sleep(1)
    [event] = breaches(own_pathways.engine)
    assert event.id == f"{j.id}:clock:62-day#1:breached"
    assert event.pathway_id == j.id
    assert event.data == {
        "clock": "62-day",
        "clock_key": "62-day#1",
        "started_on": str(referred),
        "target_days": 62,
        "breach_date": str(last_day),
        "paused_days": 10,
    }
    state = await j.live()
    assert state.stage == Stage.MDT_REVIEW
    assert state.breached_clocks == ["62-day#1"]

    # Weeks later, still untreated: the breach was a fact of one day, announced once.
    await j.sleep(30)
    assert [e.id for e in breaches(own_pathways.engine)] == [event.id]

    engine = own_pathways.engine
    queued = backlog(engine)["webhook"]
    with Receiver() as receiver:
        async with httpx.AsyncClient(timeout=10) as http:
            broker = JetStreamSink(NATS_URL, stream=stream)
            sinks: dict[str, Sink] = {
                "webhook": WebhookSink(receiver.url, SECRET, http),
                "broker": broker,
            }
            assert await publish_pending(engine, sinks) == {"webhook": queued, "broker": queued}
            await broker.close()
    [delivered] = [b for b in receiver.bodies if b["type"].endswith(".clock_breached")]
    assert delivered["type"] == "uk.nhs.sirt.pathway.clock_breached"
    assert (delivered["id"], delivered["subject"]) == (event.id, j.id)
    assert delivered["data"] == event.data
    assert receiver.bad_signatures == 0
    assert await stream_count(stream) == queued
    nc = await nats.connect(NATS_URL)
    await nc.jetstream().delete_stream(stream)
    await nc.close()

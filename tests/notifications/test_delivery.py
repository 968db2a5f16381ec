"""Delivery over real SMTP and HTTP receivers: exactly once to the user, retries, dead letters."""

import asyncio
import json
import logging
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlmodel import Session
from typer.testing import CliRunner

from cli.notify import notify_app
from core.config import Settings
from core.db import get_engine
from models.notifications import DeliveryRow, NotificationRow
from models.tables import OutboxRow
from models.vocab import Stage
from notifications.channels import Accepted, Sender
from notifications.config import NotifyConfig, load_notify_config
from notifications.delivery import build_senders, deliver_once, run_delivery
from notifications.messages import Message
from notifications.store import count_dead_letters, dead_letters, delivery_counts, outbox_key
from tests.journey import drive_to
from tests.notifications.support import Hooks, Mailbox, notify_config, seed_message
from tests.readmodel import outbox
from tests.tcpproxy import TcpProxy

NOON = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def role() -> str:
    """A role no other test routes, so passes here only touch this test's messages."""
    return f"r-{uuid.uuid4().hex[:12]}"


async def passes(engine: Engine, cfg: NotifyConfig, now: datetime, n: int = 2) -> None:
    async with httpx.AsyncClient() as http:
        senders = build_senders(cfg, http)
        for _ in range(n):
            await deliver_once(engine, cfg, senders, now)


def mail_for(box: Mailbox, pathway_id: str) -> list[str]:
    return sorted(k for k in box.delivered_keys() if k.startswith(pathway_id))


async def test_every_reminder_of_a_pathway_arrives_exactly_once(
    pathways: Any, mail: tuple[Mailbox, int], hooks: tuple[Hooks, str]
) -> None:
    (box, port), (hook, base) = mail, hooks
    cfg = notify_config(port, base)
    j = await drive_to(pathways, Stage.MDT_REVIEW)
    # Deliver as time passes, several passes each time: reminders, overdue, escalation, timeout.
    # Working days (England) stretch the 22-working-day timeout over 30-odd calendar days.
    for days in (12, 2, 3, 30):
        await j.sleep(days)
        await passes(pathways.engine, cfg, await pathways.env.get_current_time(), n=3)
    sent = outbox(pathways.engine, j.id)
    assert [m.kind for m in sent] == ["reminder", "reminder", "overdue", "escalation", "timeout"]
    assert all(m.delivered_at is not None for m in sent)
    keys = {m.kind: outbox_key(m.id, m.send_at) for m in sent}
    by_role = {m.recipient_role for m in sent}
    assert by_role == {"mdt_clinician", "pathway_lead", "service_manager"}
    # Email: the MDT's three, plus the manager's copy of the timeout; each exactly once.
    mdt = [outbox_key(m.id, m.send_at) for m in sent[:3]]
    assert mail_for(box, j.id) == sorted([*mdt, keys["timeout"]])
    mine = [m for m in box.raw if str(m["X-SIRT-Idempotency-Key"]).startswith(j.id)]
    assert len(mine) == 4, "no message was even transmitted twice"
    assert [d["id"] for d in hook.at("/lead") if d["pathway_id"] == j.id] == [keys["escalation"]]
    assert [d["id"] for d in hook.at("/manager") if d["pathway_id"] == j.id] == [keys["timeout"]]
    assert hook.posts("/lead").count(keys["escalation"]) == 1
    # Pseudonymous except on the secure channel.
    for message in mine:
        body = message.get_content()
        assert j.id in body and "Zebedee" not in body and "9434765919" not in body
    [lead] = [d for d in hook.at("/lead") if d["pathway_id"] == j.id]
    assert "patient_name" not in lead and "Zebedee" not in json.dumps(lead)
    [manager] = [d for d in hook.at("/manager") if d["pathway_id"] == j.id]
    assert manager["patient_name"] == "Zebedee Testpatient"


class CrashAfterAcceptance:
    """Sends for real and records the acceptance, then dies before the loop marks it sent."""

    def __init__(self, inner: Sender) -> None:
        self.inner = inner

    @property
    def secure(self) -> bool:
        return self.inner.secure

    async def send(self, message: Message, accepted: Accepted) -> None:
        await self.inner.send(message, accepted)
        raise asyncio.CancelledError("killed after the acceptance was recorded")


class CrashBeforeRecord(CrashAfterAcceptance):
    """Dies in the one window left: the receiver has the message, the record is not made."""

    async def send(self, message: Message, accepted: Accepted) -> None:
        async def killed() -> None:
            raise asyncio.CancelledError("killed between acceptance and its record")

        await self.inner.send(message, killed)


async def crash_then_recover(
    engine: Engine, cfg: NotifyConfig, channel: str, crash: type[CrashAfterAcceptance], key: str
) -> None:
    """A pass that dies mid-send, a restart within the lease, then passes after it."""
    async with httpx.AsyncClient() as http:
        senders = build_senders(cfg, http)
        crashing = {**senders, channel: crash(senders[channel])}
        with pytest.raises(asyncio.CancelledError):
            await deliver_once(engine, cfg, crashing, NOON)
        with Session(engine) as session:
            claimed = session.get(DeliveryRow, (key, channel))
            assert claimed is not None and claimed.state == "sending"
        await deliver_once(engine, cfg, senders, NOON + timedelta(seconds=60))
        await deliver_once(engine, cfg, senders, NOON + timedelta(seconds=301))
        await deliver_once(engine, cfg, senders, NOON + timedelta(seconds=900))


@pytest.mark.parametrize("channel", ["mdt-mail", "lead-hook"])
async def test_dying_after_the_receiver_accepted_is_recorded_not_resent(
    engine: Engine, mail: tuple[Mailbox, int], hooks: tuple[Hooks, str], channel: str
) -> None:
    (box, port), (hook, base) = mail, hooks
    r = role()
    cfg = notify_config(port, base, roles={r: [channel]}, lease_seconds=300)
    row = seed_message(engine, role=r, send_at=NOON - timedelta(hours=1))
    key = outbox_key(row.id, row.send_at)
    await crash_then_recover(engine, cfg, channel, CrashAfterAcceptance, key)
    if channel == "mdt-mail":
        assert [m["X-SIRT-Idempotency-Key"] for m in box.raw].count(key) == 1
    else:
        assert hook.posts("/lead").count(key) == 1
    with Session(engine) as session:
        done = session.get(DeliveryRow, (key, channel))
        assert done is not None
        # Sent at the acceptance, by the pass that died; the reclaim only recorded it.
        assert (done.state, done.attempts, done.resends, done.sent_at) == ("sent", 1, 0, NOON)
        out = session.get(OutboxRow, row.id)
        assert out is not None and out.delivered_at is not None and out.attempts == 1


@pytest.mark.parametrize("channel", ["mdt-mail", "lead-hook"])
async def test_dying_between_acceptance_and_its_record_sends_again_with_the_same_key(
    engine: Engine, mail: tuple[Mailbox, int], hooks: tuple[Hooks, str], channel: str
) -> None:
    (box, port), (hook, base) = mail, hooks
    r = role()
    cfg = notify_config(port, base, roles={r: [channel]}, lease_seconds=300)
    row = seed_message(engine, role=r, send_at=NOON - timedelta(hours=1))
    key = outbox_key(row.id, row.send_at)
    await crash_then_recover(engine, cfg, channel, CrashBeforeRecord, key)
    if channel == "mdt-mail":
        transmitted = [m for m in box.raw if m["X-SIRT-Idempotency-Key"] == key]
        assert len(transmitted) == 2, "sent twice: once before the crash, once after the lease"
        assert mail_for(box, row.pathway_id) == [key], "a client that dedupes sees it once"
    else:
        assert hook.posts("/lead").count(key) == 2
        assert [d["id"] for d in hook.at("/lead") if d["id"] == key] == [key]
    with Session(engine) as session:
        done = session.get(DeliveryRow, (key, channel))
        assert done is not None
        assert (done.state, done.attempts, done.resends) == ("sent", 2, 1)
        out = session.get(OutboxRow, row.id)
        assert out is not None and out.delivered_at is not None and out.attempts == 2


class CutAtAcceptance(CrashAfterAcceptance):
    """The database drops the moment the receiver accepts; it is back a second later. Then the
    process dies before the loop marks the send."""

    def __init__(self, inner: Sender, proxy: TcpProxy) -> None:
        super().__init__(inner)
        self.proxy = proxy

    async def send(self, message: Message, accepted: Accepted) -> None:
        async def during_a_cut() -> None:
            self.proxy.cut()
            threading.Timer(1.0, self.proxy.restore).start()
            await accepted()

        await self.inner.send(message, during_a_cut)
        raise asyncio.CancelledError("killed after the acceptance")


async def test_a_database_blip_at_the_acceptance_is_retried_within_the_lease_not_resent(
    engine: Engine, db_url: str, mail: tuple[Mailbox, int], hooks: tuple[Hooks, str]
) -> None:
    (box, port), (_hook, base) = mail, hooks
    r = role()
    cfg = notify_config(port, base, roles={r: ["mdt-mail"]}, lease_seconds=300)
    row = seed_message(engine, role=r, send_at=NOON - timedelta(hours=1))
    key = outbox_key(row.id, row.send_at)
    url = make_url(db_url)
    with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        through = get_engine(
            url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        )
        async with httpx.AsyncClient() as http:
            senders = build_senders(cfg, http)
            cutting = {**senders, "mdt-mail": CutAtAcceptance(senders["mdt-mail"], proxy)}
            with pytest.raises(asyncio.CancelledError):
                await deliver_once(through, cfg, cutting, NOON)
        through.dispose()
    with Session(engine) as session:
        recorded = session.get(DeliveryRow, (key, "mdt-mail"))
        assert recorded is not None
        assert (recorded.state, recorded.sent_at) == ("sending", NOON)
    await passes(engine, cfg, NOON + timedelta(seconds=301))
    assert [m["X-SIRT-Idempotency-Key"] for m in box.raw].count(key) == 1
    with Session(engine) as session:
        done = session.get(DeliveryRow, (key, "mdt-mail"))
        assert done is not None
        assert (done.state, done.attempts, done.resends) == ("sent", 1, 0)


# The admin's retry through the CLI happens the day after the message fell due.
@pytest.mark.now(NOON + timedelta(days=1))
async def test_a_failing_endpoint_retries_with_backoff_then_dead_letters_and_a_retry_delivers(
    engine: Engine, db_url: str, mail: tuple[Mailbox, int], hooks: tuple[Hooks, str]
) -> None:
    (_, port), (hook, base) = mail, hooks
    r = role()
    cfg = notify_config(port, base, roles={r: ["fail-hook"]})
    hook.status["/fail"] = 500
    row = seed_message(engine, role=r, send_at=NOON, kind="overdue")
    key = outbox_key(row.id, row.send_at)
    dead_before = count_dead_letters(engine)

    def attempts() -> tuple[str, int, datetime]:
        with Session(engine) as session:
            d = session.get(DeliveryRow, (key, "fail-hook"))
            assert d is not None
            return d.state, d.attempts, d.next_attempt_at.replace(tzinfo=UTC)

    await passes(engine, cfg, NOON, n=1)
    assert attempts() == ("pending", 1, NOON + timedelta(seconds=60))
    await passes(engine, cfg, NOON + timedelta(seconds=59), n=1)  # not yet due: no attempt
    assert attempts()[:2] == ("pending", 1)
    await passes(engine, cfg, NOON + timedelta(seconds=60), n=1)
    # Exponential: 60 s after the first failure, 120 s after the second.
    assert attempts() == ("pending", 2, NOON + timedelta(seconds=180))
    await passes(engine, cfg, NOON + timedelta(seconds=180), n=1)
    assert attempts()[:2] == ("dead", 3)
    assert hook.posts("/fail") == [key, key, key]
    assert count_dead_letters(engine) == dead_before + 1
    [letter] = [d for d in dead_letters(engine) if d.key == key]
    assert (letter.channel, letter.kind, letter.attempts) == ("fail-hook", "overdue", 3)
    assert letter.last_error is not None and "500" in letter.last_error
    # Dead letters stay dead however many passes run.
    await passes(engine, cfg, NOON + timedelta(days=1), n=2)
    assert len(hook.posts("/fail")) == 3

    # The endpoint is fixed; an admin lists and retries through the CLI.
    hook.status.pop("/fail")
    runner = CliRunner()
    env = {"DATABASE_URL": db_url}
    listed = runner.invoke(notify_app, ["dead-letters", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    assert key in [d["key"] for d in json.loads(listed.output)]
    retried = runner.invoke(notify_app, ["retry", key], env=env)
    assert retried.exit_code == 0, retried.output
    assert "1 dead letter" in retried.output
    await passes(engine, cfg, NOON + timedelta(days=1), n=2)
    assert attempts()[:2] == ("sent", 1)
    assert [d["id"] for d in hook.at("/fail")] == [key]
    assert count_dead_letters(engine) == dead_before
    again = runner.invoke(notify_app, ["retry", key], env=env)
    assert again.exit_code == 1 and "no dead letter" in again.output


async def test_a_refusal_that_cannot_change_is_a_dead_letter_at_once(
    engine: Engine, mail: tuple[Mailbox, int], hooks: tuple[Hooks, str]
) -> None:
    (_, port), (hook, base) = mail, hooks
    r = role()
    # A wrong secret: the receiver answers 401, which retrying will not fix.
    bad = {"type": "webhook", "url": f"{base}/lead", "secret": "wrong"}
    cfg = notify_config(port, base, roles={r: ["bad"]}, channels={"bad": bad})
    row = seed_message(engine, role=r, send_at=NOON)
    await passes(engine, cfg, NOON, n=2)
    key = outbox_key(row.id, row.send_at)
    assert [d.attempts for d in dead_letters(engine) if d.key == key] == [1]
    assert hook.posts("/lead").count(key) == 1


async def test_nothing_goes_out_in_quiet_hours(
    engine: Engine, mail: tuple[Mailbox, int], hooks: tuple[Hooks, str]
) -> None:
    (box, port), (_, base) = mail, hooks
    r = role()
    cfg = notify_config(port, base, roles={r: ["mdt-mail"]}, calendar={})  # quiet 20:00-08:00 local
    night = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    row = seed_message(engine, role=r, send_at=night - timedelta(hours=1))
    await passes(engine, cfg, night)
    assert mail_for(box, row.pathway_id) == []
    await passes(engine, cfg, datetime(2026, 12, 1, 8, 0, tzinfo=UTC))
    assert mail_for(box, row.pathway_id) == [outbox_key(row.id, row.send_at)]


async def test_a_re_dated_task_is_reminded_afresh_and_the_stale_reminder_suppressed(
    engine: Engine, mail: tuple[Mailbox, int], hooks: tuple[Hooks, str]
) -> None:
    (_, port), (hook, base) = mail, hooks
    r = role()
    cfg = notify_config(port, base, roles={r: ["fail-hook"]})
    hook.status["/fail"] = 503
    row = seed_message(engine, role=r, send_at=NOON)
    await passes(engine, cfg, NOON, n=1)  # fails once, waits to retry
    # The workflow re-arms the same alarm for a new date: the outbox row changes in place.
    later = NOON + timedelta(days=5)
    with Session(engine) as session:
        out = session.get(OutboxRow, row.id)
        assert out is not None
        out.send_at, out.due_on = later, later.date()
        session.add(out)
        session.commit()
    hook.status.pop("/fail")
    await passes(engine, cfg, NOON + timedelta(days=1), n=1)
    await passes(engine, cfg, later, n=2)
    old, new = outbox_key(row.id, NOON), outbox_key(row.id, later)
    assert [d["id"] for d in hook.at("/fail") if d["pathway_id"] == row.pathway_id] == [new]
    with Session(engine) as session:
        stale = session.get(NotificationRow, old)
        assert stale is not None and stale.state == "suppressed"
        kept = session.get(DeliveryRow, (old, "fail-hook"))
        assert kept is not None and kept.last_error == "superseded: the task was re-dated"
    assert delivery_counts(engine)["suppressed"] >= 1


async def test_a_role_without_a_channel_is_marked_unroutable(
    engine: Engine, mail: tuple[Mailbox, int], hooks: tuple[Hooks, str]
) -> None:
    (_, port), (_, base) = mail, hooks
    r = role()
    cfg = notify_config(port, base, roles={role(): ["mdt-mail"]})
    row = seed_message(engine, role=r, send_at=NOON)
    await passes(engine, cfg, NOON, n=1)
    with Session(engine) as session:
        note = session.get(NotificationRow, outbox_key(row.id, row.send_at))
        assert note is not None and note.state == "unroutable"


async def test_the_loop_runs_until_stopped_and_is_off_without_channels(
    engine: Engine,
    db_url: str,
    mail: tuple[Mailbox, int],
    hooks: tuple[Hooks, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    (box, port), (_, base) = mail, hooks
    settings = Settings(database_url=db_url)
    caplog.set_level(logging.INFO, logger="sirt.notifications")
    stop = asyncio.Event()
    await asyncio.wait_for(run_delivery(settings, NotifyConfig(), stop), 5)
    assert "notification delivery is off" in caplog.text

    r = role()
    cfg = notify_config(port, base, roles={r: ["mdt-mail"]}, poll_seconds=0.05)
    row = seed_message(engine, role=r, send_at=NOON)
    loop = asyncio.create_task(run_delivery(settings, cfg, stop, clock=lambda: NOON))
    for _ in range(200):
        if mail_for(box, row.pathway_id):
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(loop, 5)
    assert mail_for(box, row.pathway_id) == [outbox_key(row.id, row.send_at)]


def test_configuration_loads_from_toml_or_json_and_checks_channel_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    toml = tmp_path / "notify.toml"
    toml.write_text(
        """
max_attempts = 4
[smtp]
host = "smtp.example.nhs.uk"
port = 587
start_tls = true
username = "sirt"
password = "s3cret"
[channels.coordinators]
type = "email"
to = ["sirt-coordinators@example.nhs.uk"]
secure = true
[channels.teams]
type = "webhook"
url = "https://example.invalid/hook"
secret = "hmac-key"
[roles]
coordinator = ["coordinators"]
pathway_lead = ["coordinators", "teams"]
[calendar]
nation = "wales"
quiet_hours = { start = "19:00:00", end = "07:30:00" }
"""
    )
    monkeypatch.setenv("SIRT_NOTIFY_CONFIG", str(toml))
    monkeypatch.setenv("SIRT_NOTIFY_POLL_SECONDS", "5")
    cfg = load_notify_config()
    assert cfg.enabled and cfg.max_attempts == 4 and cfg.poll_seconds == 5
    assert cfg.smtp.start_tls and cfg.smtp.password is not None
    assert "s3cret" not in repr(cfg)
    assert list(cfg.channels_for("pathway_lead")) == ["coordinators", "teams"]
    assert cfg.backoff(1) == timedelta(seconds=60) and cfg.backoff(20) == timedelta(hours=1)
    as_json = tmp_path / "notify.json"
    as_json.write_text(json.dumps({"roles": {"coordinator": ["nowhere"]}}))
    with pytest.raises(ValueError, match="unknown channel"):
        load_notify_config(as_json)
    monkeypatch.delenv("SIRT_NOTIFY_CONFIG")
    assert not load_notify_config().enabled

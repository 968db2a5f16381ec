"""The delivery loop: outbox -> notifications -> one leased send per channel -> sent | dead.

Delivery is at-least-once with a stable idempotency key, which makes it effectively once for
receivers that deduplicate on that key:

- a send is claimed ("sending", with a lease) in a committed transaction before it is sent;
- the email's Message-ID and the webhook's Idempotency-Key are the message's key;
- the moment the receiver takes the message (the SMTP relay's reply to the end of DATA, a
  webhook's 2xx) the acceptance is committed (``sent_at``), before the SMTP QUIT and before the
  locking ``mark_sent``; a reclaim after an expired lease checks it and records the send
  instead of sending again;
- so a crash resends only if it falls between the receiver's acceptance and that one write
  (a database round trip); the receiver then sees a duplicate with the same key;
- if it dies before the receiver accepted, the retry is the first copy anyone sees.

Neither SMTP nor a plain webhook can be asked "did you get it?", so that remaining window
cannot be closed; `resends` counts the maybe-twice sends for the audit.
"""

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import Engine

from core import clock as core_clock
from core.config import Settings
from core.db import get_engine
from notifications import store
from notifications.channels import EmailSender, PermanentFailure, Sender, WebhookSender
from notifications.config import EmailChannel, NotifyConfig

log = logging.getLogger("sirt.notifications")


@dataclass
class PassReport:
    """What one delivery pass did."""

    ingested: int = 0
    routed: int = 0
    sent: int = 0
    retried: int = 0
    dead: int = 0
    skipped: int = 0
    quiet: bool = False
    errors: list[str] = field(default_factory=list)


def owner_id() -> str:
    """Who holds a lease: host, process and a random part (two loops in one process differ)."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def build_senders(config: NotifyConfig, http: httpx.AsyncClient) -> dict[str, Sender]:
    """One sender per configured channel, by channel name."""
    senders: dict[str, Sender] = {}
    for name, channel in config.channels.items():
        if isinstance(channel, EmailChannel):
            senders[name] = EmailSender(config.smtp, channel)
        else:
            senders[name] = WebhookSender(channel, http)
    return senders


async def deliver_once(
    engine: Engine,
    config: NotifyConfig,
    senders: Mapping[str, Sender],
    now: datetime,
    *,
    owner: str | None = None,
) -> PassReport:
    """One pass: take due outbox rows in, route them, and send what is due.

    Nothing is sent in quiet hours; messages wait for the morning.
    """
    now = now.astimezone(UTC)
    owner = owner or owner_id()
    report = PassReport()
    routes = {role: names for role, names in config.roles.items() if names}
    report.ingested = await asyncio.to_thread(store.ingest_outbox, engine, now, config.batch_size)
    report.routed = await asyncio.to_thread(store.route_new, engine, routes, now, config.batch_size)
    if config.calendar.calendar().in_quiet_hours(now):
        report.quiet = True
        return report
    due = await asyncio.to_thread(store.candidates, engine, now, config.batch_size)
    gate = asyncio.Semaphore(config.concurrency)

    async def one(candidate: store.Candidate) -> None:
        async with gate:
            await _deliver(engine, config, senders, candidate, now, owner, report)

    await asyncio.gather(*(one(c) for c in due))
    return report


async def _deliver(
    engine: Engine,
    config: NotifyConfig,
    senders: Mapping[str, Sender],
    candidate: store.Candidate,
    now: datetime,
    owner: str,
    report: PassReport,
) -> None:
    sender = senders.get(candidate.channel)
    if sender is None:
        # The channel was removed from the configuration; keep the row for when it returns.
        report.skipped += 1
        return
    claimed = await asyncio.to_thread(
        store.claim,
        engine,
        candidate,
        owner=owner,
        now=now,
        lease=timedelta(seconds=config.lease_seconds),
        with_patient=sender.secure,
    )
    if claimed is None:
        report.skipped += 1
        return
    if claimed.accepted:
        # The previous holder died after the receiver took it: record it, send nothing.
        log.info("%s on %s was accepted before a crash; not resent", claimed.key, claimed.channel)
        await asyncio.to_thread(store.mark_sent, engine, claimed.key, claimed.channel, now)
        report.sent += 1
        return
    if claimed.resend:
        log.warning("resending %s on %s after an expired lease", claimed.key, claimed.channel)

    lease_ends = time.monotonic() + config.lease_seconds

    async def accepted() -> None:
        # The message is out: a failed record must never turn it into a failed send. While
        # the lease is ours nobody else resends it, so a database blip is retried until then.
        pause = 0.2
        while True:
            try:
                await asyncio.to_thread(
                    store.record_accepted, engine, claimed.key, claimed.channel, owner, now
                )
                return
            except Exception as exc:
                if time.monotonic() + pause >= lease_ends:
                    log.warning(
                        "could not record the acceptance of %s on %s before its lease ended: %s",
                        claimed.key,
                        claimed.channel,
                        type(exc).__name__,
                    )
                    return
            await asyncio.sleep(pause)
            pause = min(pause * 2, 5.0)

    try:
        await sender.send(claimed.message, accepted)
    except Exception as exc:  # any send failure is recorded; cancellation is not caught
        permanent = isinstance(exc, PermanentFailure)
        dead = permanent or claimed.attempt >= config.max_attempts
        error = f"{type(exc).__name__}: {exc}"
        await asyncio.to_thread(
            store.mark_failed,
            engine,
            claimed,
            owner=owner,
            now=now,
            error=error,
            dead=dead,
            retry_at=now + config.backoff(claimed.attempt),
        )
        if dead:
            report.dead += 1
            log.error("dead letter %s on %s: %s", claimed.key, claimed.channel, error)
        else:
            report.retried += 1
            log.warning(
                "send of %s on %s failed, will retry: %s", claimed.key, claimed.channel, error
            )
        report.errors.append(error)
        return
    await asyncio.to_thread(store.mark_sent, engine, claimed.key, claimed.channel, now)
    report.sent += 1


async def run_delivery(
    settings: Settings,
    notify_config: NotifyConfig,
    stop_event: asyncio.Event,
    *,
    clock: Callable[[], datetime] | None = None,
) -> None:
    """Deliver until ``stop_event`` is set, one pass every ``poll_seconds``.

    Returns at once, saying so, when no channel is configured.
    """
    if not notify_config.enabled:
        # A warning, so it shows at the product's default log level.
        log.warning(
            "notification delivery is off: no role has a channel (set SIRT_NOTIFY_CONFIG to a "
            "JSON or TOML file with channels and roles)"
        )
        return
    engine = get_engine(settings.resolved_database_url)
    now = clock or core_clock.now
    owner = owner_id()
    log.info(
        "notification delivery on: %d channel(s), %d role(s)",
        len(notify_config.channels),
        len(notify_config.roles),
    )
    async with httpx.AsyncClient() as http:
        senders = build_senders(notify_config, http)
        while not stop_event.is_set():
            try:
                report = await deliver_once(engine, notify_config, senders, now(), owner=owner)
                if report.sent or report.dead or report.retried:
                    log.info(
                        "delivery pass: %d sent, %d to retry, %d dead",
                        report.sent,
                        report.retried,
                        report.dead,
                    )
            except Exception:
                # The database or a receiver is down: try again next time round.
                log.exception("delivery pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop_event.wait(), notify_config.poll_seconds)

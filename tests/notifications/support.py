"""Test support: real receivers on loopback: an SMTP server (aiosmtpd) and an HTTP webhook server.

Both deduplicate on the idempotency key (Message-ID, Idempotency-Key) as a real receiver
should, and keep every raw transmission too, so tests can tell "sent twice" from "seen twice".
"""

import email
import email.policy
import hashlib
import hmac
import json
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope
from aiosmtpd.smtp import Session as SmtpSession
from sqlalchemy import Engine
from sqlmodel import Session

from core.db import get_engine, migrate
from models.tables import OutboxRow, PathwayRow, PatientRow, TaskRow
from notifications.config import NotifyConfig

# As tests/conftest.py: the local PostgreSQL that every run creates its databases on.
PG_ADMIN = os.environ.get("SIRT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")

SECRET = "test-webhook-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Mailbox:
    """What the SMTP server received: every transmission, and the messages a user would see."""

    raw: list[EmailMessage] = field(default_factory=list)
    inbox: dict[str, EmailMessage] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: SMTP, session: SmtpSession, envelope: Envelope) -> str:
        content = envelope.content
        assert isinstance(content, bytes)
        message = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.raw.append(message)
            self.inbox.setdefault(str(message["Message-ID"]), message)
        return "250 OK"

    def delivered_keys(self) -> list[str]:
        with self.lock:
            return sorted(str(m["X-SIRT-Idempotency-Key"]) for m in self.inbox.values())


@contextmanager
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    """A real SMTP server on a free loopback port."""
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


@dataclass
class Hooks:
    """What the webhook server received, per path; ``status`` makes a path fail on purpose."""

    secret: str
    raw: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    delivered: dict[str, dict[str, Any]] = field(default_factory=dict)
    status: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def at(self, path: str) -> list[dict[str, Any]]:
        """Deduplicated deliveries that arrived at ``path``, in key order."""
        with self.lock:
            return [d for k, d in sorted(self.delivered.items()) if k.startswith(path + "|")]

    def posts(self, path: str) -> list[str]:
        """Idempotency keys of every POST to ``path``, duplicates and failures included."""
        with self.lock:
            return [key for p, key, _ in self.raw if p == path]


def _handler(hooks: Hooks) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            key = self.headers["Idempotency-Key"]
            expected = "sha256=" + hmac.new(hooks.secret.encode(), body, hashlib.sha256).hexdigest()
            data = json.loads(body)
            with hooks.lock:
                hooks.raw.append((self.path, key, data))
                status = hooks.status.get(self.path, 200)
                if not hmac.compare_digest(expected, self.headers.get("X-SIRT-Signature", "")):
                    status = 401
                if status == 200:
                    hooks.delivered.setdefault(f"{self.path}|{key}", data)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def webhook_server(secret: str) -> Iterator[tuple[Hooks, str]]:
    """A real HTTP server on a free loopback port; yields the hooks and its base URL."""
    hooks = Hooks(secret)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hooks))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hooks, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def own_database() -> Iterator[str]:
    """A PostgreSQL database of its own, migrated, dropped afterwards.

    The delivery loop and the reconciler act on every row in the database, so these tests
    keep out of the rows the rest of the suite writes (and it out of theirs).
    """
    name = f"sirt_notify_{uuid.uuid4().hex[:12]}"
    admin = psycopg.connect(PG_ADMIN, autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + "/" + name
    try:
        migrate(url)
        yield url
    finally:
        get_engine(url).dispose()
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.close()


def seed_message(
    engine: Engine,
    *,
    role: str,
    send_at: datetime,
    kind: str = "reminder",
    task_id: str = "triage_referral-1",
    due_on: date | None = None,
) -> OutboxRow:
    """A pathway with one open task and one outbox message, written straight to the tables."""
    pathway_id = f"pathway-{uuid.uuid4()}"
    due = due_on or send_at.date()
    with Session(engine) as session:
        session.add(
            PathwayRow(
                id=pathway_id,
                centre="LEEDS",
                stage="REFERRED",
                stage_entered_at=send_at,
                referred_at=send_at,
                next_due_on=due,
                updated_at=send_at,
            )
        )
        session.flush()
        session.add(
            PatientRow(
                pathway_id=pathway_id,
                nhs_number="9434765919",
                family_name="Testpatient",
                given_name="Zebedee",
                date_of_birth=date(1958, 3, 14),
            )
        )
        session.add(
            TaskRow(
                pathway_id=pathway_id,
                id=task_id,
                kind="triage_referral",
                role=role,
                title="Triage the referral",
                state="open",
                opened_at=send_at,
                due_on=due,
            )
        )
        row = OutboxRow(
            id=f"{pathway_id}:{task_id}:{kind}",
            pathway_id=pathway_id,
            task_id=task_id,
            recipient_role=role,
            kind=kind,
            due_on=due,
            subject=f"{kind.title()}: Triage the referral for pathway {pathway_id}, due {due}",
            send_at=send_at,
            created_at=send_at,
        )
        session.add(row)
        session.commit()
        session.refresh(row)
        return row


def notify_config(port: int, base: str, **extra: Any) -> NotifyConfig:
    """Email to the MDT; webhooks to the lead (pseudonymous) and the manager (secure)."""
    data: dict[str, Any] = {
        "smtp": {"host": "127.0.0.1", "port": port, "sender": "sirt@test.invalid"},
        "channels": {
            "mdt-mail": {"type": "email", "to": ["mdt@test.invalid"]},
            "lead-hook": {"type": "webhook", "url": f"{base}/lead", "secret": SECRET},
            "manager-hook": {
                "type": "webhook",
                "url": f"{base}/manager",
                "secret": SECRET,
                "secure": True,
            },
            "fail-hook": {"type": "webhook", "url": f"{base}/fail", "secret": SECRET},
        },
        "roles": {
            "mdt_clinician": ["mdt-mail"],
            "pathway_lead": ["lead-hook"],
            "service_manager": ["manager-hook", "mdt-mail"],
        },
        "calendar": {"quiet_hours": None},
        "max_attempts": 3,
        "backoff_initial_seconds": 60,
    }
    data.update(extra)
    return NotifyConfig.model_validate(data)

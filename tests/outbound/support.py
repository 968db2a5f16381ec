"""What the outbound tests share: a webhook receiver that checks every signature, and reads
of the event outbox and of a JetStream stream."""

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import nats
from sqlmodel import Session, select

from models.events import PathwayEventRow

SECRET = b"webhook-test-secret"
NATS_URL = "nats://127.0.0.1:4222"


class Receiver:
    """An HTTP endpoint that checks each signature and keeps every delivery; the request
    numbered ``hold_at`` is held until ``release`` (so the sender can be killed meanwhile)."""

    def __init__(self, hold_at: int | None = None) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.bad_signatures = 0
        self.hold_at = hold_at
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                expected = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
                if self.headers["X-Sirt-Signature"] != expected:
                    receiver.bad_signatures += 1
                assert self.headers["Content-Type"].startswith("application/cloudevents+json")
                receiver.bodies.append(json.loads(body))
                if len(receiver.bodies) == receiver.hold_at:
                    receiver.release.wait(30)
                try:
                    self.send_response(200)
                    self.end_headers()
                except OSError:
                    pass  # the sender was killed while we held its request

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/events"

    @property
    def ids(self) -> list[str]:
        return [b["id"] for b in self.bodies]

    def __enter__(self) -> "Receiver":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def events(engine: Any) -> list[PathwayEventRow]:
    with Session(engine) as s:
        return list(s.exec(select(PathwayEventRow)).all())


async def stream_count(name: str) -> int:
    nc = await nats.connect(NATS_URL)
    try:
        info = await nc.jetstream().stream_info(name)
        return int(info.state.messages)
    finally:
        await nc.close()

"""A registry on loopback: a real HTTP server that records what it receives and can fail."""

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Registry:
    """Accepts FHIR bundles with 201; answers 503 while ``down`` or for the next ``fail_next``."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.refused = 0
        self.fail_next = 0
        self.down = False
        self._lock = threading.Lock()
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with registry._lock:
                    refuse = registry.down or registry.fail_next > 0
                    if refuse:
                        registry.fail_next = max(registry.fail_next - 1, 0)
                        registry.refused += 1
                    else:
                        bundle = json.loads(body)
                        registry.posts.append({"headers": dict(self.headers), "bundle": bundle})
                if refuse:
                    self.send_response(503)
                    self.end_headers()
                    self.wfile.write(b"try later")
                    return
                self.send_response(201)
                self.send_header("Content-Type", "application/fhir+json")
                self.end_headers()
                self.wfile.write(b'{"resourceType": "OperationOutcome"}')

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/Bundle"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def loopback_registry() -> Iterator[Registry]:
    """A registry for one test, shut down after it."""
    registry = Registry()
    try:
        yield registry
    finally:
        registry.close()

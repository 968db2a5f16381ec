"""A TCP proxy on loopback that a test can cut and restore, to stage a dependency's outage.

It runs its own event loop in a thread, like a real network hop: the code under test may
block on a socket without blocking the proxy that would answer it.
"""

import asyncio
import contextlib
import socket
import threading
from collections.abc import Coroutine
from typing import Any, Self, TypeVar

T = TypeVar("T")


class TcpProxy:
    """Forwards 127.0.0.1:``port`` to ``target``; ``cut()`` drops every connection and refuses
    new ones (the port is closed), ``restore()`` listens on the same port again."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.WriteTransport] = set()

    def __enter__(self) -> Self:
        self._thread.start()
        self.restore()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.cut()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    @property
    def address(self) -> str:
        """host:port to connect to instead of the target."""
        return f"127.0.0.1:{self.port}"

    def cut(self) -> None:
        """Close the listening port and every open connection (both ends)."""
        self._run(self._cut())

    def restore(self) -> None:
        """Listen again (on the same port after a cut)."""
        self._run(self._listen())

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    async def _listen(self) -> None:
        if self._server is not None:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        self._server = await asyncio.start_server(self._accept, sock=sock)

    async def _cut(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        # abort(), not close(): a cut connection ends at once (RST), like a dead host's.
        for transport in list(self._open):
            transport.abort()
        self._open.clear()
        await asyncio.sleep(0)  # let the pipes notice before the caller goes on

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._server is None:  # accepted just before a cut
            writer.transport.abort()
            return
        upstream: asyncio.StreamWriter | None = None
        self._open.add(writer.transport)
        try:
            up_reader, upstream = await asyncio.open_connection(*self.target)
            self._open.add(upstream.transport)
            await asyncio.gather(_copy(reader, upstream), _copy(up_reader, writer))
        except OSError:
            pass
        finally:
            for w in (writer, upstream):
                if w is not None:
                    w.transport.abort()
                    self._open.discard(w.transport)


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    with contextlib.suppress(OSError):
        writer.write_eof()

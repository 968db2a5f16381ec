"""The MLLP listener: HL7v2 messages in over TCP, one ACK out for each, in order."""

import asyncio
import contextlib
import logging

from hl7.mllp import start_hl7_server
from hl7.mllp.exceptions import InvalidBlockError
from hl7.mllp.streams import HL7StreamReader, HL7StreamWriter

from intake.service import Intake

log = logging.getLogger(__name__)

# A block bigger than this is refused (the connection closes): 1 MiB holds any ORU we take.
MAX_BLOCK = 1 << 20


async def serve_mllp(
    intake: Intake,
    host: str,
    port: int,
    stop: asyncio.Event,
    ready: "asyncio.Future[int] | None" = None,
) -> None:
    """Listen until ``stop``; each connection's messages are answered in the order sent.

    ``ready`` is given the port listened on (port 0 picks a free one).
    """

    async def on_connection(reader: HL7StreamReader, writer: HL7StreamWriter) -> None:
        try:
            while True:
                try:
                    block = await reader.readblock()
                except asyncio.IncompleteReadError:
                    return  # the sender closed
                except (InvalidBlockError, ValueError) as exc:
                    log.warning("mllp: closing a connection that sent a bad block: %s", exc)
                    return
                writer.writeblock(await intake.receive_hl7(block))
                await writer.drain()
        except ConnectionError:
            return
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    server = await start_hl7_server(on_connection, host, port, limit=MAX_BLOCK)
    async with server:
        if ready is not None:
            ready.set_result(server.sockets[0].getsockname()[1])
        await stop.wait()

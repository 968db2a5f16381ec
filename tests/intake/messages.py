"""HL7v2 messages as a laboratory system and a PAS send them, and an MLLP client for them."""

import asyncio
import random
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date

import hl7
from hl7.mllp import open_hl7_connection

from clinical.nhs_number import format_nhs_number, is_valid_nhs_number
from intake.mllp import serve_mllp
from intake.service import Intake


def new_nhs_number(seed: int) -> str:
    """A valid NHS number of this test's own (the read model is shared by the whole run)."""
    rng = random.Random(seed)
    while True:
        candidate = "9" + "".join(str(rng.randrange(10)) for _ in range(9))
        if is_valid_nhs_number(candidate):
            return format_nhs_number(candidate)


def _msh(kind: str, control: str) -> str:
    return f"MSH|^~\\&|WINPATH|LTH|SIRT|LTH|20261128090000||{kind}|{control}|P|2.5.1"


def _pid(nhs_number: str, extra: str = "") -> str:
    # A hospital number first, then the NHS number: PID-3 repeats.
    return f"PID|1||RX0001^^^LTH^MR~{nhs_number}^^^NHS^NH||Testpatient^Zebedee||19580314|M{extra}"


def oru(
    control: str,
    nhs_number: str,
    collected_on: date,
    results: Sequence[tuple[str, str, str]],
) -> bytes:
    """An ORU^R01 with one OBX per (LOINC code, value, unit)."""
    when = collected_on.strftime("%Y%m%d") + "0830"
    segments = [
        _msh("ORU^R01^ORU_R01", control),
        _pid(nhs_number),
        f"OBR|1||LAB{control}|24325-3^Hepatic function panel^LN|||{when}",
    ]
    for i, (code, value, unit) in enumerate(results, 1):
        segments.append(f"OBX|{i}|NM|{code}^^LN||{value}|{unit}|||||F|||{when}")
    return "\r".join(segments).encode()


def death(control: str, nhs_number: str, died_on: date, kind: str = "ADT^A03") -> bytes:
    """An ADT (discharge, or patient update) with PID-29 date of death and PID-30 = Y."""
    # PID-29 is the 29th field: pad after PID-8 (sex).
    tail = "|" * 21 + died_on.strftime("%Y%m%d") + "1400|Y"
    return "\r".join([_msh(kind, control), _pid(nhs_number, tail)]).encode()


@dataclass
class Ack:
    """An ACK as received: its bytes, MSA-1 and MSA-3."""

    raw: str
    code: str
    text: str


class MllpClient:
    """One TCP connection to the listener."""

    def __init__(self, reader: object, writer: object) -> None:
        self.reader = reader
        self.writer = writer

    async def send(self, message: bytes) -> Ack:
        self.writer.writeblock(message)  # type: ignore[attr-defined]
        await self.writer.drain()  # type: ignore[attr-defined]
        block = await self.reader.readblock()  # type: ignore[attr-defined]
        text = block.decode()
        ack = hl7.parse(text)
        return Ack(text, str(ack["MSA.F1"]), ack.unescape(str(ack["MSA.F3"])))

    async def close(self) -> None:
        self.writer.close()  # type: ignore[attr-defined]
        await self.writer.wait_closed()  # type: ignore[attr-defined]


@asynccontextmanager
async def listener(intake: Intake) -> AsyncIterator[int]:
    """The MLLP listener on a free loopback port, for the test's duration."""
    stop = asyncio.Event()
    ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve_mllp(intake, "127.0.0.1", 0, stop, ready))
    port = await asyncio.wait_for(ready, 10)
    try:
        yield port
    finally:
        stop.set()
        await task


async def connect(port: int) -> MllpClient:
    reader, writer = await open_hl7_connection("127.0.0.1", port)
    return MllpClient(reader, writer)

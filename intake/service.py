"""Intake: keep a message (encrypted) first, then match its patient, apply its step, answer.

One path for every channel: HL7v2 answers AA / AE / AR, FHIR 201 / 422. The answer is stored
with the message, so a message sent again (same control id) gets the same answer and its step
is applied once; the control id is also the step's idempotency key, so even a message applied
but not yet answered when the process died is applied once when it comes again.
"""

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from core import clock
from core.pathways import submit_step
from core.step_slots import NoSlot, StepSlots
from intake import fhir, hl7v2, store
from intake.instruction import Instruction, Malformed
from intake.loinc import IntakeConfig
from models.inbound import InboundMessageRow

log = logging.getLogger(__name__)

Reader = Callable[[bytes], Instruction]


@dataclass(frozen=True)
class Outcome:
    """What became of a message: its status and the answer (AA applied, AE, AR malformed)."""

    status: str
    code: str
    text: str
    pathway_id: str | None = None


class Unavailable(RuntimeError):
    """The pathway engine could not be reached: the message stays received, to be sent again."""


class NotReconcilable(ValueError):
    """A link or discard of a message that is not on the reconciliation worklist."""


class Intake:
    """Applies inbound messages of every channel to pathways."""

    def __init__(
        self,
        client: Client,
        engine: Engine,
        config: IntakeConfig | None = None,
        slots: StepSlots | None = None,
    ):
        self.client = client
        self.engine = engine
        self.config = config or IntakeConfig()
        # The web app's step slots, when it receives messages (its FHIR route): one bound for
        # every step it sends. The MLLP listener has its own connections to bound it.
        self.slots = slots
        self.sealer = store.Sealer(client)
        self.readers: dict[str, Reader] = {"hl7v2": self._read_hl7, "fhir": self._read_fhir}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    def _read_hl7(self, raw: bytes) -> Instruction:
        return hl7v2.instruction(hl7v2.parse(hl7v2.decode(raw)), self.config)

    def _read_fhir(self, raw: bytes) -> Instruction:
        return fhir.instruction(fhir.resource_of(raw), self.config)

    # ------------------------------------------------------------ FHIR

    async def receive_fhir(self, raw: bytes) -> Outcome:
        """One FHIR resource (Observation, Bundle of them, Patient): stored, applied, answered.

        Without an id there is nothing to key a resend on: it is refused, and not stored.
        """
        try:
            data = fhir.resource_of(raw)
            control = fhir.control_id(data)
        except Malformed as exc:
            return Outcome("rejected", "AR", str(exc))
        _, outcome = await self.receive("fhir", control, str(data.get("resourceType")), raw)
        return outcome

    # ------------------------------------------------------------ HL7v2

    async def receive_hl7(self, block: bytes) -> bytes:
        """One MLLP block in, its ACK out (the message is stored before the ACK is made)."""
        message = None
        try:
            message = hl7v2.parse(hl7v2.decode(block))
            control = hl7v2.control_id(message)
            kind = hl7v2.message_type(message)
        except Malformed:
            control, kind = "", ""
        if not control:
            # No control id to key on: key on the bytes, so a resend is still one message.
            control = "sha256:" + hashlib.sha256(block).hexdigest()[:40]
        row, outcome = await self.receive("hl7v2", control, kind, block)
        if message is None or not hl7v2.control_id(message):
            text = outcome.text if message is None else "MSH-10: the message has no control id"
            return hl7v2.ack(message, "AR", text, control, row.received_at)
        return hl7v2.ack(message, outcome.code, outcome.text, control, row.received_at)

    # ------------------------------------------------------------ every channel

    async def receive(
        self, channel: str, control: str, kind: str, raw: bytes
    ) -> tuple[InboundMessageRow, Outcome]:
        """Store, apply once, answer; a message seen before is answered as it was."""
        lock = self._locks.setdefault((channel, control), asyncio.Lock())
        try:
            async with lock:
                row = await asyncio.to_thread(store.get, self.engine, channel, control)
                if row is None:
                    new = InboundMessageRow(
                        channel=channel,
                        control_id=control,
                        received_at=clock.now(),
                        message_type=kind[:32],
                        raw=self.sealer.seal(raw),
                        status="received",
                    )
                    row = await asyncio.to_thread(store.keep, self.engine, new)
                if row.status in store.FINAL:
                    return row, Outcome(row.status, row.ack_code or "AA", row.ack_text or "")
                try:
                    outcome = await self._process(channel, control, raw)
                except Unavailable as exc:
                    return row, Outcome("received", "AE", str(exc))
                row = await asyncio.to_thread(
                    store.answer,
                    self.engine,
                    channel,
                    control,
                    status=outcome.status,
                    ack_code=outcome.code,
                    ack_text=outcome.text,
                    pathway_id=outcome.pathway_id,
                )
                log.info("intake %s %s: %s %s", channel, control, outcome.status, outcome.code)
        finally:
            # Every way out, early answers included, so no lock is kept per message.
            self._locks.pop((channel, control), None)
        return row, outcome

    async def _process(self, channel: str, control: str, raw: bytes) -> Outcome:
        try:
            instruction = self.readers[channel](raw)
        except Malformed as exc:
            return Outcome("rejected", "AR", str(exc))
        if instruction.step is None:
            return Outcome("applied", "AA", f"accepted; nothing to record: {instruction.note}")
        found = await asyncio.to_thread(store.open_pathways_of, self.engine, instruction.nhs_number)
        if len(found) != 1:
            why = "no open pathway" if not found else f"{len(found)} open pathways"
            element = "PID-3" if channel == "hl7v2" else "subject.identifier"
            return Outcome(
                "unmatched", "AE", f"{element}: {why} for this NHS number; sent for reconciliation"
            )
        return await self._apply(channel, control, instruction, found[0], "applied")

    async def _apply(
        self, channel: str, control: str, instruction: Instruction, pathway_id: str, status: str
    ) -> Outcome:
        assert instruction.step is not None and instruction.payload is not None
        slot = self.slots.taken() if self.slots else contextlib.nullcontext()
        try:
            async with slot:
                result = await submit_step(
                    self.client,
                    pathway_id,
                    instruction.step,
                    instruction.payload,
                    idempotency_key=f"{channel}:{control}",
                )
        except NoSlot:
            raise Unavailable("not applied now: the service is busy; send again") from None
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            reason = cause.message if isinstance(cause, ApplicationError) else str(cause or exc)
            return Outcome("refused", "AE", reason, pathway_id)
        except Exception as exc:  # RPC failures, timeouts: nothing answered, send again
            log.warning("intake %s %s: engine unavailable: %s", channel, control, exc)
            raise Unavailable(
                "not applied now: the pathway engine is unavailable; send again"
            ) from None
        return Outcome(
            status, "AA", f"applied as {instruction.step} {result.record_id}", pathway_id
        )

    # ------------------------------------------------------------ reconciliation

    async def link(self, channel: str, control: str, pathway_id: str, user: str) -> Outcome:
        """Apply an unmatched message to the pathway a coordinator names."""
        row = await asyncio.to_thread(store.get, self.engine, channel, control)
        if row is None or row.status != "unmatched":
            raise NotReconcilable(f"control_id: {control!r} is not awaiting reconciliation")
        instruction = self.readers[channel](self.sealer.open(row.raw))
        outcome = await self._apply(channel, control, instruction, pathway_id, "linked")
        if outcome.status == "linked":
            await asyncio.to_thread(
                store.answer,
                self.engine,
                channel,
                control,
                status="linked",
                ack_code=row.ack_code,
                ack_text=outcome.text,
                pathway_id=pathway_id,
                resolved_by=user,
                resolved_at=clock.now(),
            )
        return outcome

    async def discard(self, channel: str, control: str, user: str, note: str) -> None:
        """Set an unmatched message aside: it belongs to no pathway here."""
        row = await asyncio.to_thread(store.get, self.engine, channel, control)
        if row is None or row.status != "unmatched":
            raise NotReconcilable(f"control_id: {control!r} is not awaiting reconciliation")
        at: datetime = clock.now()
        await asyncio.to_thread(
            store.answer,
            self.engine,
            channel,
            control,
            status="discarded",
            ack_code=row.ack_code,
            ack_text=f"discarded: {note}",
            resolved_by=user,
            resolved_at=at,
        )

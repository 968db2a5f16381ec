"""The inbound message store: raw messages encrypted at rest, keyed by channel and control id."""

import base64
import os
from collections.abc import Sequence
from datetime import datetime

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from pydantic import BaseModel
from sqlalchemy import Engine, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from temporalio.client import Client

from core.codec import EncryptionCodec
from models.inbound import InboundMessageRow
from models.tables import PathwayRow, PatientRow
from models.vocab import Stage

# Statuses whose answer is final: a duplicate gets the same answer and nothing is applied again.
FINAL = frozenset({"applied", "unmatched", "rejected", "refused", "linked", "discarded"})
OPEN_STAGES = [s.value for s in Stage if not s.is_terminal]
CHANNELS = ("hl7v2", "fhir")


class Sealer:
    """AES-GCM for raw messages, under a key derived from the payload key (no new secret)."""

    def __init__(self, client: Client) -> None:
        codec = client.data_converter.payload_codec
        if not isinstance(codec, EncryptionCodec):
            raise RuntimeError("intake needs the encrypting data converter")
        self._aead = AESGCM(codec.derived_secret("inbound-message"))

    def seal(self, raw: bytes) -> str:
        """Encrypted, base64: fit for a text column."""
        nonce = os.urandom(12)
        return base64.b64encode(nonce + self._aead.encrypt(nonce, raw, None)).decode()

    def open(self, sealed: str) -> bytes:
        """The raw message back."""
        data = base64.b64decode(sealed)
        return self._aead.decrypt(data[:12], data[12:], None)


def get(engine: Engine, channel: str, control_id: str) -> InboundMessageRow | None:
    """The stored message, if this control id was seen on this channel."""
    with Session(engine) as s:
        return s.get(InboundMessageRow, (channel, control_id))


def keep(engine: Engine, row: InboundMessageRow) -> InboundMessageRow:
    """Store a newly received message; if another connection stored it first, that row."""
    with Session(engine) as s:
        s.add(row)
        try:
            s.commit()
        except IntegrityError:
            s.rollback()
            existing = s.get(InboundMessageRow, (row.channel, row.control_id))
            assert existing is not None
            return existing
        s.refresh(row)
        return row


def answer(
    engine: Engine,
    channel: str,
    control_id: str,
    *,
    status: str,
    ack_code: str | None,
    ack_text: str,
    pathway_id: str | None = None,
    resolved_by: str | None = None,
    resolved_at: datetime | None = None,
) -> InboundMessageRow:
    """Record what became of a message and the answer given."""
    with Session(engine) as s:
        row = s.get(InboundMessageRow, (channel, control_id))
        assert row is not None
        row.status = status
        row.ack_code = ack_code
        row.ack_text = ack_text[:500]
        row.pathway_id = pathway_id or row.pathway_id
        if resolved_by is not None:
            row.resolved_by = resolved_by
            row.resolved_at = resolved_at
        s.add(row)
        s.commit()
        s.refresh(row)
        return row


def open_pathways_of(engine: Engine, nhs_number: str) -> list[str]:
    """The open pathways of the patient with this NHS number (read model)."""
    with Session(engine) as s:
        rows = s.exec(
            select(PathwayRow.id)
            .join(PatientRow, col(PatientRow.pathway_id) == col(PathwayRow.id))
            .where(PatientRow.nhs_number == nhs_number)
            .where(col(PathwayRow.stage).in_(OPEN_STAGES))
            .order_by(col(PathwayRow.referred_at).desc())
        ).all()
    return list(rows)


def unmatched(engine: Engine, limit: int = 200) -> Sequence[InboundMessageRow]:
    """The reconciliation worklist: messages for no known open pathway, oldest first."""
    with Session(engine) as s:
        return s.exec(
            select(InboundMessageRow)
            .where(InboundMessageRow.status == "unmatched")
            .order_by(col(InboundMessageRow.received_at))
            .limit(limit)
        ).all()


def counts(engine: Engine) -> dict[tuple[str, str, str], int]:
    """Messages by (channel, status, ack code): the ops dashboard and /metrics read these."""
    with Session(engine) as s:
        rows = s.exec(
            select(
                InboundMessageRow.channel,
                InboundMessageRow.status,
                InboundMessageRow.ack_code,
                func.count(),
            ).group_by(
                col(InboundMessageRow.channel),
                col(InboundMessageRow.status),
                col(InboundMessageRow.ack_code),
            )
        ).all()
    return {(c, st, a or ""): n for c, st, a, n in rows}


class ChannelCounts(BaseModel):
    """One inbound channel's figures: messages in, answers out by code, the backlog."""

    channel: str
    received: int
    answers: dict[str, int]  # ack code -> count (AA, AE, AR; "" not yet answered)
    unmatched: int  # the reconciliation backlog


def channel_counts(engine: Engine) -> list[ChannelCounts]:
    """Per channel, for the ops dashboard and /metrics."""
    by_channel: dict[str, ChannelCounts] = {
        c: ChannelCounts(channel=c, received=0, answers={}, unmatched=0) for c in CHANNELS
    }
    for (channel, status, code), n in counts(engine).items():
        row = by_channel.setdefault(
            channel, ChannelCounts(channel=channel, received=0, answers={}, unmatched=0)
        )
        row.received += n
        row.answers[code] = row.answers.get(code, 0) + n
        if status == "unmatched":
            row.unmatched += n
    return list(by_channel.values())


def exposition(engine: Engine) -> bytes:
    """The same figures in Prometheus text format."""
    registry = CollectorRegistry()
    received = Gauge(
        "sirt_intake_messages", "Inbound messages by channel and answer", ["channel", "ack"],
        registry=registry,
    )  # fmt: skip
    backlog = Gauge(
        "sirt_intake_reconciliation_backlog", "Messages awaiting reconciliation", ["channel"],
        registry=registry,
    )  # fmt: skip
    for row in channel_counts(engine):
        for code, n in row.answers.items():
            received.labels(row.channel, code or "none").set(n)
        backlog.labels(row.channel).set(row.unmatched)
    return generate_latest(registry)

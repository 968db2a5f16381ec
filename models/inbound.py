"""Messages other hospital systems sent (HL7v2 over MLLP, FHIR), kept before they are answered.

The raw message is stored encrypted (AES-GCM under a key derived from the payload key) before
it is acknowledged, so an acknowledged message is never lost and can be re-applied; the
columns beside it hold no patient identifier.
"""

from datetime import datetime

from sqlmodel import Field, SQLModel

from models.tables import _ts


class InboundMessageRow(SQLModel, table=True):
    """One inbound message, keyed by its channel and the sender's control id (MSH-10)."""

    __tablename__ = "inbound_message"

    channel: str = Field(primary_key=True, max_length=16)  # "hl7v2" or "fhir"
    control_id: str = Field(primary_key=True, max_length=200)
    received_at: datetime = _ts(index=True)
    message_type: str = Field(default="", max_length=32)  # "ORU^R01", "Observation", ...
    raw: str = Field(description="The message as received, AES-GCM encrypted, base64.")
    # received -> applied | unmatched | rejected | refused; unmatched -> linked | discarded
    status: str = Field(index=True, max_length=16)
    ack_code: str | None = Field(default=None, max_length=2)  # AA, AE, AR
    ack_text: str | None = Field(default=None, max_length=500)
    pathway_id: str | None = Field(default=None, max_length=64)
    resolved_at: datetime | None = _ts(nullable=True)
    resolved_by: str | None = Field(default=None, max_length=64)

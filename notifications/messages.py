"""What a message says: pseudonymous by default, the patient's name only on secure channels."""

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import quote

MESSAGE_ID_DOMAIN = "sirt-pathway"


@dataclass(frozen=True)
class Message:
    """A message ready for a channel. ``key`` is its idempotency key on every channel."""

    key: str
    kind: str
    recipient_role: str
    subject: str
    pathway_id: str | None
    task_id: str | None
    due_on: date | None
    send_at: datetime
    body: str | None = None
    patient_name: str | None = None

    def text(self) -> str:
        """The plain-text body: pathway id, task and due date; never an identifier unless
        ``patient_name`` was filled in for a secure channel."""
        lines = [self.subject, ""]
        if self.body:
            lines += [self.body, ""]
        facts = [
            ("Pathway", self.pathway_id),
            ("Patient", self.patient_name),
            ("Task", self.task_id),
            ("Due", self.due_on.isoformat() if self.due_on else None),
            ("For", self.recipient_role),
            ("Reference", self.key),
        ]
        lines += [f"{label}: {value}" for label, value in facts if value]
        return "\n".join(lines) + "\n"

    def payload(self) -> dict[str, Any]:
        """The webhook's JSON document."""
        data: dict[str, Any] = {
            "id": self.key,
            "kind": self.kind,
            "recipient_role": self.recipient_role,
            "subject": self.subject,
            "text": self.text(),
            "pathway_id": self.pathway_id,
            "task_id": self.task_id,
            "due_on": self.due_on.isoformat() if self.due_on else None,
            "send_at": self.send_at.isoformat(),
        }
        if self.patient_name:
            data["patient_name"] = self.patient_name
        return data

    @property
    def message_id(self) -> str:
        """An RFC 5322 Message-ID made from the key (':' and '@' are not allowed bare)."""
        return f"<{quote(self.key, safe='')}@{MESSAGE_ID_DOMAIN}>"

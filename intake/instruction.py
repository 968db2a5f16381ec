"""What an inbound message asks of a pathway, whichever channel it came by."""

from dataclasses import dataclass

from pydantic import BaseModel


class Malformed(ValueError):
    """A message that cannot be read or mapped; the text names the element (AR / 422)."""


@dataclass(frozen=True)
class Instruction:
    """The step an inbound message becomes, for the patient it names.

    ``step`` is None when the message is well formed but carries nothing the pathway takes
    (an ADT^A08 without a death, results of unmapped tests): it is accepted and kept.
    """

    message_type: str
    nhs_number: str
    step: str | None
    payload: BaseModel | None
    note: str = ""

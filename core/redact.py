"""What roles without patient identity (ops, admin) never see: identity and free text.

Free text (a withdrawal reason, notes, a cause of death) is where people write names and NHS
numbers, so it is withheld whole rather than scanned: ops views, exports and the Temporal UI's
codec answer show `[withheld]` in its place.
"""

from typing import Any

from clinical.free_text import FREE_TEXT_KEYS

# Keys whose values are identity or free text, at any depth of a recorded payload.
IDENTITY_KEYS = frozenset({"patient", "nhs_number", "family_name", "given_name", "date_of_birth"})
WITHHELD_KEYS = IDENTITY_KEYS | FREE_TEXT_KEYS
WITHHELD = "[withheld]"


def withhold(value: Any) -> Any:
    """``value`` with identity and free text replaced, at any depth."""
    if isinstance(value, dict):
        return {k: WITHHELD if k in WITHHELD_KEYS else withhold(v) for k, v in value.items()}
    if isinstance(value, list):
        return [withhold(v) for v in value]
    return value


def withheld_text(value: str | None) -> str | None:
    """A free-text field as an identity-less role sees it."""
    return None if value is None else WITHHELD

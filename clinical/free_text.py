"""Screening free text for patient identifiers, before it is recorded.

Free text (a withdrawal reason, notes, a cause of death) should say what happened, not who:
a hit for an NHS-number pattern (10 digits, optionally grouped 3-3-4 by spaces or dashes) or
for the patient's own family or given name is refused with a message asking to remove it.
Pure: the caller supplies the patient's names.
"""

import re
from collections.abc import Iterable, Sequence
from typing import Any

# Keys of payload fields that hold free text.
FREE_TEXT_KEYS = frozenset(
    {
        "reason",
        "note",
        "notes",
        "comment",
        "comments",
        "cause_of_death",
        "description",
        "detail",
        "free_text",
    }
)
NHS_NUMBER_PATTERN = re.compile(r"(?<!\d)\d{3}[ -]?\d{3}[ -]?\d{4}(?!\d)")
ASK = "remove the patient identifier from this free text (say what happened, not who)"


def identifier_hits(
    payload: Any, names: Sequence[str], path: tuple[str | int, ...] = ()
) -> list[tuple[tuple[str | int, ...], str]]:
    """(field path, message) for each free-text field that names the patient or holds an
    NHS-number pattern, at any depth of ``payload`` (a JSON-like value)."""
    hits: list[tuple[tuple[str | int, ...], str]] = []
    if isinstance(payload, dict):
        for key, value in payload.items():
            where = (*path, key)
            if key in FREE_TEXT_KEYS and isinstance(value, str):
                found = _what(value, names)
                if found:
                    hits.append((where, f"{found}: {ASK}"))
            else:
                hits += identifier_hits(value, names, where)
    elif isinstance(payload, list):
        for index, item in enumerate(payload):
            hits += identifier_hits(item, names, (*path, index))
    return hits


def _what(text: str, names: Iterable[str]) -> str | None:
    if NHS_NUMBER_PATTERN.search(text):
        return "it contains what looks like an NHS number"
    for name in names:
        name = name.strip()
        if len(name) >= 2 and re.search(rf"(?<!\w){re.escape(name)}(?!\w)", text, re.IGNORECASE):
            return "it contains the patient's name"
    return None

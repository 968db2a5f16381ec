"""Finding a pathway from what a coordinator has in hand: an NHS number (any spacing), a
family name, a date of birth (UK or ISO form) or a pathway id.

Identity searches are for roles that may see identity; a pathway id is pseudonymous, so any
role that lists pathways may search by it.
"""

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from models.dates import parse_uk_date

_DIGITS = re.compile(r"^[\d\s\-]+$")
_NAME = re.compile(r"^[^\W\d_][\w' \-.]*$", re.UNICODE)


class SearchKind(StrEnum):
    """What a search term was read as."""

    NHS_NUMBER = "NHS number"
    DATE_OF_BIRTH = "date of birth"
    PATHWAY_ID = "pathway id"
    FAMILY_NAME = "family name"

    @property
    def identifying(self) -> bool:
        """Whether searching by it reveals or needs patient identity."""
        return self is not SearchKind.PATHWAY_ID


@dataclass(frozen=True)
class Search:
    """A parsed search term."""

    kind: SearchKind
    text: str = ""
    day: date | None = None


def parse_search(q: str) -> Search:
    """Read a search term; ValueError naming ``q`` when it is none of the four kinds."""
    q = q.strip()
    if q.lower().startswith("pathway-"):
        if not re.fullmatch(r"pathway-[0-9a-f\-]{1,36}", q.lower()):
            raise ValueError("q: a pathway id has only hex digits and dashes after 'pathway-'")
        return Search(SearchKind.PATHWAY_ID, text=q.lower())
    if _DIGITS.match(q) and len(re.sub(r"\D", "", q)) == 10 and not re.search(r"[/.]", q):
        digits = re.sub(r"\D", "", q)
        # 10 digits in any grouping is an NHS number, unless it is a date (14-03-1958 has 8).
        return Search(SearchKind.NHS_NUMBER, text=digits)
    if re.search(r"\d", q):
        try:
            return Search(SearchKind.DATE_OF_BIRTH, day=parse_uk_date(q))
        except ValueError as exc:
            raise ValueError(
                "q: enter an NHS number (10 digits), a date of birth (14/03/1958), "
                f"a family name or a pathway id ({exc})"
            ) from None
    if len(q) < 2 or not _NAME.match(q):
        raise ValueError("q: a family name needs at least 2 letters")
    return Search(SearchKind.FAMILY_NAME, text=q.lower())

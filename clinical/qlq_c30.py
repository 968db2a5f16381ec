"""EORTC QLQ-C30 (version 3) scoring, by the EORTC scoring manual.

For each scale the raw score RS is the mean of its answered items, and is linearly transformed
to 0-100 with range = highest minus lowest item response (3 for the 4-point items 1-28, 6 for
the 7-point global items 29-30):

- functional scales: 100 x (1 - (RS - 1) / range)  (higher is better functioning)
- symptom scales and global health status: 100 x (RS - 1) / range  (higher is more symptoms,
  or better global quality of life)

Missing items follow the manual's half rule: a scale is scored when at least half of its items
are answered, from the mean of those answered; otherwise it is ``None``. A single-item scale
therefore needs its item. The scoring machinery is shared with the QLQ-GI.NET21 module.
"""

from collections.abc import Mapping, Sequence
from enum import StrEnum

from pydantic import ConfigDict, Field

from clinical.errors import ClinicalRuleError
from clinical.finite import Finite

Responses = Mapping[int, int | None]


class ScaleKind(StrEnum):
    """How a scale's raw score is transformed."""

    FUNCTIONAL = "functional"
    SYMPTOM = "symptom"
    GLOBAL = "global"


class ScaleDefinition(Finite):
    """One scale of a questionnaire: its code, items and transformation."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str
    name: str
    items: tuple[int, ...] = Field(min_length=1)
    kind: ScaleKind
    item_max: int = Field(default=4, ge=2, description="Highest response; every item starts at 1.")


def _scale(
    code: str, name: str, items: Sequence[int], kind: ScaleKind, top: int = 4
) -> ScaleDefinition:
    return ScaleDefinition(code=code, name=name, items=tuple(items), kind=kind, item_max=top)


_F, _S, _G = ScaleKind.FUNCTIONAL, ScaleKind.SYMPTOM, ScaleKind.GLOBAL

QLQ_C30_SCALES: tuple[ScaleDefinition, ...] = (
    _scale("QL2", "Global health status / QoL", (29, 30), _G, top=7),
    _scale("PF2", "Physical functioning", (1, 2, 3, 4, 5), _F),
    _scale("RF2", "Role functioning", (6, 7), _F),
    _scale("EF", "Emotional functioning", (21, 22, 23, 24), _F),
    _scale("CF", "Cognitive functioning", (20, 25), _F),
    _scale("SF", "Social functioning", (26, 27), _F),
    _scale("FA", "Fatigue", (10, 12, 18), _S),
    _scale("NV", "Nausea and vomiting", (14, 15), _S),
    _scale("PA", "Pain", (9, 19), _S),
    _scale("DY", "Dyspnoea", (8,), _S),
    _scale("SL", "Insomnia", (11,), _S),
    _scale("AP", "Appetite loss", (13,), _S),
    _scale("CO", "Constipation", (16,), _S),
    _scale("DI", "Diarrhoea", (17,), _S),
    _scale("FI", "Financial difficulties", (28,), _S),
)

QLQ_C30_ITEM_MAX: Mapping[int, int] = dict.fromkeys(range(1, 29), 4) | {29: 7, 30: 7}


def validate_responses(responses: Responses, item_max: Mapping[int, int]) -> None:
    """Raise ``ClinicalRuleError`` naming the first item that is unknown or out of range."""
    for item in sorted(responses):
        if item not in item_max:
            known = f"{min(item_max)}-{max(item_max)}"
            raise ClinicalRuleError(f"item {item} is not part of this questionnaire ({known})")
        value = responses[item]
        if value is None:
            continue
        # bool is an int subclass; a True must not pass as the answer 1.
        if isinstance(value, bool) or not isinstance(value, int):
            raise ClinicalRuleError(f"item {item} must be a whole number (got {value!r})")
        if not 1 <= value <= item_max[item]:
            raise ClinicalRuleError(
                f"item {item} must be between 1 and {item_max[item]} (got {value})"
            )


def score_scale(scale: ScaleDefinition, responses: Responses) -> float | None:
    """0-100 score of one scale, or ``None`` when fewer than half its items are answered."""
    answered = [value for item in scale.items if (value := responses.get(item)) is not None]
    if 2 * len(answered) < len(scale.items):
        return None
    raw = sum(answered) / len(answered)
    span = scale.item_max - 1
    if scale.kind is ScaleKind.FUNCTIONAL:
        return (1.0 - (raw - 1.0) / span) * 100.0
    return (raw - 1.0) / span * 100.0


def score_scales(
    scales: Sequence[ScaleDefinition], responses: Responses, item_max: Mapping[int, int]
) -> dict[str, float | None]:
    """Validate the responses, then score every scale, keyed by scale code in table order."""
    validate_responses(responses, item_max)
    return {scale.code: score_scale(scale, responses) for scale in scales}


def score_qlq_c30(
    responses: Responses, scales: Sequence[ScaleDefinition] = QLQ_C30_SCALES
) -> dict[str, float | None]:
    """Score the 15 QLQ-C30 scales from item number (1-30) -> response (None if unanswered)."""
    return score_scales(scales, responses, QLQ_C30_ITEM_MAX)

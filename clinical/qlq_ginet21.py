"""EORTC QLQ-GI.NET21 (gastrointestinal neuroendocrine tumour module) scoring.

Items are numbered 31-51, following the QLQ-C30, and are all 4-point. They are scored like the
QLQ-C30 symptom scales (higher means more of the problem), with the same half rule.

The item mapping below is the one this product uses. It follows Yadegarfar et al. (Br J Cancer
2013;108:301-310), which validated five multi-item scales (endocrine, gastrointestinal,
treatment-related, social function, disease-related worries) and scored weight gain as a single
item because it did not correlate with the treatment scale, plus single items. The exact item
numbers could not be checked against the EORTC module scoring instructions when this was
written: confirm them with the licensed EORTC documents before publishing analyses, and pass a
corrected ``scales`` table if they differ (nothing else changes).

- ED endocrine symptoms: 31, 32, 33
- GI gastrointestinal symptoms: 34, 35, 36, 37, 38
- TR treatment-related symptoms: 39, 40, 42 (item 39 is left blank when not on treatment)
- WG weight gain: 41
- DRW disease-related worries: 43, 44, 45
- SF social function (scored as problems, like the other module scales): 46, 47, 48
- MB muscle/bone pain: 49
- IN information/communication: 50 (its direction follows the item wording, not "problem")
- SX sexual function: 51
"""

from collections.abc import Mapping, Sequence

from clinical.qlq_c30 import Responses, ScaleDefinition, ScaleKind, score_scales

_S = ScaleKind.SYMPTOM


def _scale(code: str, name: str, items: Sequence[int]) -> ScaleDefinition:
    return ScaleDefinition(code=code, name=name, items=tuple(items), kind=_S, item_max=4)


QLQ_GINET21_SCALES: tuple[ScaleDefinition, ...] = (
    _scale("ED", "Endocrine symptoms", (31, 32, 33)),
    _scale("GI", "Gastrointestinal symptoms", (34, 35, 36, 37, 38)),
    _scale("TR", "Treatment-related symptoms", (39, 40, 42)),
    _scale("WG", "Weight gain", (41,)),
    _scale("DRW", "Disease-related worries", (43, 44, 45)),
    _scale("SF", "Social function", (46, 47, 48)),
    _scale("MB", "Muscle/bone pain", (49,)),
    _scale("IN", "Information/communication", (50,)),
    _scale("SX", "Sexual function", (51,)),
)

QLQ_GINET21_ITEM_MAX: Mapping[int, int] = dict.fromkeys(range(31, 52), 4)


def score_qlq_ginet21(
    responses: Responses, scales: Sequence[ScaleDefinition] = QLQ_GINET21_SCALES
) -> dict[str, float | None]:
    """Score the GI.NET21 scales from item number (31-51) -> response (None if unanswered)."""
    return score_scales(scales, responses, QLQ_GINET21_ITEM_MAX)

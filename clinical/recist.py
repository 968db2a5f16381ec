"""Tumour response by RECIST 1.1 and mRECIST on target lesions.

Simplifications, stated so nobody mistakes this for a full RECIST read:
- only target lesions and the yes/no of new lesions are modelled (non-target lesions and lymph
  node short axes are left to the radiologist's overall call);
- CR is a sum of 0 with no new lesions; confirmation of CR/PR and a minimum SD duration are not
  required (as in most non-randomised registries).

The rules: PD if any new lesion, or the sum is at least 20% above the nadir (the smallest sum so
far, baseline included) *and* at least 5 mm above it; CR if the sum is 0; PR if the sum is at
least 30% below baseline; SD otherwise. A missing measurement makes the time point NE unless the
lesions measured already prove PD. mRECIST applies the same arithmetic to the viable (arterially
enhancing) diameter of each lesion, so the caller passes viable diameters and ``MRECIST``.
"""

from collections import Counter
from collections.abc import Mapping, Sequence
from enum import StrEnum

from pydantic import ConfigDict, Field

from clinical.config import RecistConfig
from clinical.errors import ClinicalRuleError
from clinical.finite import Finite

_DEFAULT = RecistConfig()
# Diameters are recorded to 0.1 mm; this only absorbs binary rounding at exact boundaries.
_EPSILON = 1e-9


class ResponseCriteria(StrEnum):
    """Which response criteria the diameters were measured for."""

    RECIST_1_1 = "recist_1_1"
    MRECIST = "mrecist"  # viable, arterially enhancing tumour


class Response(StrEnum):
    """Time-point response."""

    CR = "CR"
    PR = "PR"
    SD = "SD"
    PD = "PD"
    NE = "NE"


# Best first, for best overall response.
_RANK = {Response.CR: 0, Response.PR: 1, Response.SD: 2, Response.PD: 3, Response.NE: 4}


class TargetLesion(Finite):
    """A target lesion chosen at baseline."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lesion_id: str = Field(min_length=1)
    organ: str = Field(min_length=1)
    baseline_mm: float = Field(ge=0)


class FollowUpMeasurement(Finite):
    """Diameters at one follow-up time point, keyed by lesion id (None: not evaluable)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    diameters_mm: Mapping[str, float | None]
    new_lesions: bool = False


class ResponseAssessment(Finite):
    """One time point's response and the sums it was judged on."""

    model_config = ConfigDict(frozen=True)

    criteria: ResponseCriteria
    response: Response
    sum_mm: float | None
    baseline_sum_mm: float
    nadir_sum_mm: float
    change_from_baseline_pct: float | None
    change_from_nadir_pct: float | None


def validate_target_lesions(
    lesions: Sequence[TargetLesion], config: RecistConfig = _DEFAULT
) -> None:
    """Raise ``ClinicalRuleError`` unless the baseline target lesions follow RECIST 1.1."""
    if not lesions:
        raise ClinicalRuleError("at least one target lesion is needed")
    if len(lesions) > config.max_target_lesions:
        raise ClinicalRuleError(
            f"{len(lesions)} target lesions chosen; at most {config.max_target_lesions} allowed"
        )
    ids = Counter(lesion.lesion_id for lesion in lesions)
    duplicated = sorted(lesion_id for lesion_id, count in ids.items() if count > 1)
    if duplicated:
        raise ClinicalRuleError(f"target lesion ids must be unique: {', '.join(duplicated)}")
    per_organ = Counter(lesion.organ.strip().lower() for lesion in lesions)
    for organ, count in sorted(per_organ.items()):
        if count > config.max_target_lesions_per_organ:
            raise ClinicalRuleError(
                f"{count} target lesions in {organ}; at most "
                f"{config.max_target_lesions_per_organ} per organ allowed"
            )
    for lesion in lesions:
        if lesion.baseline_mm < config.min_target_lesion_mm:
            raise ClinicalRuleError(
                f"target lesion {lesion.lesion_id} measures {lesion.baseline_mm:g} mm; "
                f"a target lesion must be at least {config.min_target_lesion_mm:g} mm"
            )


def _is_progression(current: float, nadir: float, config: RecistConfig) -> bool:
    increase = current - nadir
    relative = increase * 100.0 >= config.progression_increase_pct * nadir - _EPSILON
    absolute = increase >= config.progression_min_increase_mm - _EPSILON
    return relative and absolute


def classify_response(
    baseline_sum_mm: float,
    nadir_sum_mm: float,
    current_sum_mm: float,
    new_lesions: bool = False,
    config: RecistConfig = _DEFAULT,
) -> Response:
    """Time-point response from the sums of diameters (baseline, nadir so far, now)."""
    if new_lesions or _is_progression(current_sum_mm, nadir_sum_mm, config):
        return Response.PD
    if current_sum_mm <= _EPSILON:
        return Response.CR
    decrease = baseline_sum_mm - current_sum_mm
    if decrease * 100.0 >= config.partial_response_decrease_pct * baseline_sum_mm - _EPSILON:
        return Response.PR
    return Response.SD


def _pct(current: float | None, reference: float) -> float | None:
    if current is None or reference == 0:
        return None
    return (current - reference) / reference * 100.0


def assess_series(
    baseline: Sequence[TargetLesion],
    follow_ups: Sequence[FollowUpMeasurement],
    criteria: ResponseCriteria = ResponseCriteria.RECIST_1_1,
    config: RecistConfig = _DEFAULT,
) -> list[ResponseAssessment]:
    """Time-point responses for follow-ups in date order, tracking the nadir as it falls."""
    validate_target_lesions(baseline, config)
    # A list, not a set: summing in a fixed order keeps float results identical on replay.
    order = [lesion.lesion_id for lesion in baseline]
    baseline_sum = sum(lesion.baseline_mm for lesion in baseline)
    nadir = baseline_sum
    results: list[ResponseAssessment] = []
    for follow_up in follow_ups:
        unknown = sorted(set(follow_up.diameters_mm) - set(order))
        if unknown:
            raise ClinicalRuleError(
                f"measurements for unknown target lesions: {', '.join(unknown)}"
            )
        measured = [follow_up.diameters_mm.get(lesion_id) for lesion_id in order]
        available = [value for value in measured if value is not None]
        if any(value < 0 for value in available):
            raise ClinicalRuleError("diameters must not be negative")
        partial_sum = sum(available)
        current: float | None
        if len(available) == len(measured):
            current = partial_sum
            response = classify_response(
                baseline_sum, nadir, current, follow_up.new_lesions, config
            )
        else:
            # Unmeasured lesions can only add to the sum, so PD on the rest is still PD.
            current = None
            progressed = follow_up.new_lesions or _is_progression(partial_sum, nadir, config)
            response = Response.PD if progressed else Response.NE
        results.append(
            ResponseAssessment(
                criteria=criteria,
                response=response,
                sum_mm=current,
                baseline_sum_mm=baseline_sum,
                nadir_sum_mm=nadir,
                change_from_baseline_pct=_pct(current, baseline_sum),
                change_from_nadir_pct=_pct(current, nadir),
            )
        )
        if current is not None:
            nadir = min(nadir, current)
    return results


def best_overall_response(responses: Sequence[Response]) -> Response:
    """Best time-point response recorded up to and including the first PD (NE if none)."""
    best = Response.NE
    for response in responses:
        if _RANK[response] < _RANK[best]:
            best = response
        if response is Response.PD:
            break
    return best


def is_objective_response(response: Response) -> bool:
    """Counts towards the objective response rate (CR or PR)."""
    return response in (Response.CR, Response.PR)


def is_disease_control(response: Response) -> bool:
    """Counts towards the disease control rate (CR, PR or SD)."""
    return response in (Response.CR, Response.PR, Response.SD)

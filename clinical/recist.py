"""Tumour response by RECIST 1.1 (Eisenhauer et al., Eur J Cancer 2009) and mRECIST
(Lencioni & Llovet, Semin Liver Dis 2010). Tables with sources: docs/clinical-rules.md.

Target lesions: non-nodal ones by longest diameter (>= 10 mm at baseline), lymph nodes by short
axis (>= 15 mm to be a target; under 10 mm is normal). A lesion present but too small to measure
counts the default 5 mm; one that has gone counts 0.

Target response at each time point: PD if the sum is at least 20% above the nadir (the smallest
sum so far, baseline included) and at least 5 mm above it, or if any lesion reappears after a CR;
CR if every non-nodal target has gone and every nodal target is under 10 mm; PR if the sum is at
least 30% below baseline; SD otherwise. A missing measurement makes the time point NE unless the
lesions measured already prove PD.

Overall response combines target response, non-target response (CR, non-CR/non-PD, PD, NE, as
the radiologist records it) and new lesions by RECIST 1.1 table 1: any PD or a new lesion is PD;
target CR with non-target CR (or no non-target disease) is CR; target CR with non-target
non-CR/non-PD or not evaluated is PR; otherwise the target response.

mRECIST measures viable (arterially enhancing) tumour with the same 20%/30% thresholds but no
absolute 5 mm floor for PD, and its own new-lesion rule: a new lesion is PD when it is at least
10 mm with the typical vascular pattern; a smaller or atypical one is equivocal and is not PD.
Confirmation of CR/PR and a minimum SD duration are not required (as in most registries).
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


class NonTargetResponse(StrEnum):
    """Response of the non-target lesions, as the radiologist reads them (RECIST 1.1)."""

    CR = "CR"  # all gone, every node under 10 mm short axis
    NON_CR_NON_PD = "non-CR/non-PD"  # mRECIST: incomplete response / stable disease
    PD = "PD"  # unequivocal progression
    NE = "NE"


# Best first, for best overall response.
_RANK = {Response.CR: 0, Response.PR: 1, Response.SD: 2, Response.PD: 3, Response.NE: 4}


class TargetLesion(Finite):
    """A target lesion chosen at baseline."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lesion_id: str = Field(min_length=1)
    organ: str = Field(min_length=1)
    baseline_mm: float = Field(ge=0, description="Longest diameter; short axis for a node.")
    nodal: bool = Field(default=False, description="A lymph node, measured by short axis.")


class FollowUpMeasurement(Finite):
    """Diameters at one follow-up time point, keyed by lesion id (None: not evaluable)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    diameters_mm: Mapping[str, float | None]
    too_small: tuple[str, ...] = Field(
        default=(), description="Lesions present but too small to measure: counted 5 mm."
    )
    new_lesions: bool = False
    new_lesion_mm: float | None = Field(default=None, ge=0, description="Largest new lesion.")
    new_lesion_typical: bool | None = Field(
        default=None, description="mRECIST: arterial enhancement with washout (typical pattern)."
    )
    non_target: NonTargetResponse | None = Field(
        default=None, description="None: no non-target disease recorded at baseline."
    )


class ResponseAssessment(Finite):
    """One time point's response and the sums it was judged on."""

    model_config = ConfigDict(frozen=True)

    criteria: ResponseCriteria
    response: Response = Field(description="Overall response (target, non-target, new).")
    target_response: Response
    non_target_response: NonTargetResponse | None = None
    new_lesion_counted: bool = False
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
        if lesion.nodal and lesion.baseline_mm < config.min_nodal_target_short_axis_mm:
            raise ClinicalRuleError(
                f"target lymph node {lesion.lesion_id} measures {lesion.baseline_mm:g} mm short "
                f"axis; a nodal target must be at least "
                f"{config.min_nodal_target_short_axis_mm:g} mm"
            )
        if not lesion.nodal and lesion.baseline_mm < config.min_target_lesion_mm:
            raise ClinicalRuleError(
                f"target lesion {lesion.lesion_id} measures {lesion.baseline_mm:g} mm; "
                f"a target lesion must be at least {config.min_target_lesion_mm:g} mm"
            )


def _floor_mm(criteria: ResponseCriteria, config: RecistConfig) -> float:
    if criteria is ResponseCriteria.MRECIST:
        return config.mrecist_progression_min_increase_mm
    return config.progression_min_increase_mm


def _is_progression(
    current: float, nadir: float, config: RecistConfig, floor_mm: float | None = None
) -> bool:
    floor = config.progression_min_increase_mm if floor_mm is None else floor_mm
    increase = current - nadir
    relative = increase * 100.0 >= config.progression_increase_pct * nadir - _EPSILON
    absolute = increase >= floor - _EPSILON
    return relative and increase > _EPSILON and absolute


def classify_response(
    baseline_sum_mm: float,
    nadir_sum_mm: float,
    current_sum_mm: float,
    new_lesions: bool = False,
    config: RecistConfig = _DEFAULT,
) -> Response:
    """Time-point response from the sums of diameters (baseline, nadir so far, now), for
    non-nodal target lesions only (a node's CR is under 10 mm, not 0: see ``assess_series``)."""
    if new_lesions or _is_progression(current_sum_mm, nadir_sum_mm, config):
        return Response.PD
    if current_sum_mm <= _EPSILON:
        return Response.CR
    decrease = baseline_sum_mm - current_sum_mm
    if decrease * 100.0 >= config.partial_response_decrease_pct * baseline_sum_mm - _EPSILON:
        return Response.PR
    return Response.SD


def _pct(current: float | None, reference: float) -> float | None:
    if current is None or reference <= _EPSILON:
        return None  # no percentage of nothing (a nadir of 0 after CR)
    return (current - reference) / reference * 100.0


def _new_lesion_counts(m: FollowUpMeasurement, criteria: ResponseCriteria, c: RecistConfig) -> bool:
    """RECIST 1.1: any unequivocal new lesion. mRECIST: >= 10 mm with the typical pattern."""
    if not m.new_lesions:
        return False
    if criteria is ResponseCriteria.RECIST_1_1:
        return True
    too_small = m.new_lesion_mm is not None and m.new_lesion_mm < c.mrecist_new_lesion_min_mm
    return not too_small and m.new_lesion_typical is not False


def overall_response(
    target: Response, non_target: NonTargetResponse | None, new_lesion: bool
) -> Response:
    """RECIST 1.1 table 1 (patients with target disease); mRECIST uses the same table."""
    if new_lesion or target is Response.PD or non_target is NonTargetResponse.PD:
        return Response.PD
    if target is Response.NE:
        return Response.NE
    if target is Response.CR:
        return Response.CR if non_target in (None, NonTargetResponse.CR) else Response.PR
    return target


def _target_response(
    lesions: Sequence[TargetLesion],
    values: Sequence[float],
    baseline_sum: float,
    nadir: float,
    had_cr: bool,
    floor: float,
    config: RecistConfig,
) -> Response:
    current = sum(values)
    gone = all(
        v < config.nodal_normal_below_mm - _EPSILON if lesion.nodal else v <= _EPSILON
        for lesion, v in zip(lesions, values, strict=True)
    )
    if _is_progression(current, nadir, config, floor) or (had_cr and not gone):
        return Response.PD  # growth, or reappearance after a complete response
    if gone:
        return Response.CR
    decrease = baseline_sum - current
    if decrease * 100.0 >= config.partial_response_decrease_pct * baseline_sum - _EPSILON:
        return Response.PR
    return Response.SD


def assess_series(
    baseline: Sequence[TargetLesion],
    follow_ups: Sequence[FollowUpMeasurement],
    criteria: ResponseCriteria = ResponseCriteria.RECIST_1_1,
    config: RecistConfig = _DEFAULT,
) -> list[ResponseAssessment]:
    """Time-point responses for follow-ups in date order, tracking the nadir as it falls."""
    validate_target_lesions(baseline, config)
    floor = _floor_mm(criteria, config)
    # A list, not a set: summing in a fixed order keeps float results identical on replay.
    order = [lesion.lesion_id for lesion in baseline]
    baseline_sum = sum(lesion.baseline_mm for lesion in baseline)
    nadir = baseline_sum
    had_cr = False
    results: list[ResponseAssessment] = []
    for follow_up in follow_ups:
        unknown = sorted((set(follow_up.diameters_mm) | set(follow_up.too_small)) - set(order))
        if unknown:
            raise ClinicalRuleError(
                f"measurements for unknown target lesions: {', '.join(unknown)}"
            )
        measured = [
            config.too_small_to_measure_mm
            if lesion_id in follow_up.too_small
            else follow_up.diameters_mm.get(lesion_id)
            for lesion_id in order
        ]
        available = [value for value in measured if value is not None]
        if any(value < 0 for value in available):
            raise ClinicalRuleError("diameters must not be negative")
        partial_sum = sum(available)
        current: float | None
        if len(available) == len(measured):
            current = partial_sum
            target = _target_response(
                baseline, available, baseline_sum, nadir, had_cr, floor, config
            )
        else:
            # Unmeasured lesions can only add to the sum, so PD on the rest is still PD.
            current = None
            progressed = _is_progression(partial_sum, nadir, config, floor)
            target = Response.PD if progressed else Response.NE
        counted = _new_lesion_counts(follow_up, criteria, config)
        results.append(
            ResponseAssessment(
                criteria=criteria,
                response=overall_response(target, follow_up.non_target, counted),
                target_response=target,
                non_target_response=follow_up.non_target,
                new_lesion_counted=counted,
                sum_mm=current,
                baseline_sum_mm=baseline_sum,
                nadir_sum_mm=nadir,
                change_from_baseline_pct=_pct(current, baseline_sum),
                change_from_nadir_pct=_pct(current, nadir),
            )
        )
        had_cr = (had_cr or target is Response.CR) and target is not Response.PD
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

"""Tumour response by RECIST 1.1 and mRECIST, told as the radiologist would read the scans."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinical.errors import ClinicalRuleError
from clinical.recist import (
    FollowUpMeasurement,
    Response,
    ResponseCriteria,
    TargetLesion,
    assess_series,
    best_overall_response,
    classify_response,
    is_disease_control,
    is_objective_response,
    validate_target_lesions,
)

# Two liver lesions of 30 and 20 mm: a baseline sum of 50 mm.
BASELINE = [
    TargetLesion(lesion_id="L1", organ="liver", baseline_mm=30),
    TargetLesion(lesion_id="L2", organ="liver", baseline_mm=20),
]


def _scan(l1: float | None, l2: float | None, new: bool = False) -> FollowUpMeasurement:
    return FollowUpMeasurement(diameters_mm={"L1": l1, "L2": l2}, new_lesions=new)


def test_a_shrinkage_of_exactly_30_percent_is_a_partial_response() -> None:
    [result] = assess_series(BASELINE, [_scan(21, 14)])  # 35 mm: -30%
    assert result.response is Response.PR
    assert result.sum_mm == 35
    assert result.change_from_baseline_pct == pytest.approx(-30.0)


def test_a_shrinkage_just_short_of_30_percent_is_stable_disease() -> None:
    [result] = assess_series(BASELINE, [_scan(21, 14.1)])
    assert result.response is Response.SD


def test_all_target_lesions_gone_and_no_new_lesion_is_complete_response() -> None:
    [result] = assess_series(BASELINE, [_scan(0, 0)])
    assert result.response is Response.CR


def test_any_new_lesion_is_progression_whatever_the_sum() -> None:
    [result] = assess_series(BASELINE, [_scan(0, 0, new=True)])
    assert result.response is Response.PD


def test_growth_is_judged_against_the_nadir_not_the_baseline() -> None:
    # 50 -> 35 (PR, nadir 35) -> 42: +20% and +7 mm over the nadir is PD although below baseline.
    results = assess_series(BASELINE, [_scan(21, 14), _scan(26, 16)])
    assert [r.response for r in results] == [Response.PR, Response.PD]
    assert results[1].nadir_sum_mm == 35
    assert results[1].change_from_nadir_pct == pytest.approx(20.0)


def test_twenty_percent_growth_of_under_5_mm_is_stable_disease() -> None:
    # Nadir 20 mm; 24 mm is +20% but only +4 mm.
    assert classify_response(baseline_sum_mm=20, nadir_sum_mm=20, current_sum_mm=24) is Response.SD
    # 25 mm is +25% and +5 mm: progression.
    assert classify_response(20, 20, 25) is Response.PD


def test_five_mm_growth_of_under_20_percent_is_stable_disease() -> None:
    # Nadir 50 mm; 59 mm is +9 mm but only +18%; 60 mm is exactly +20% and +10 mm.
    assert classify_response(50, 50, 59) is Response.SD
    assert classify_response(50, 50, 60) is Response.PD


def test_a_missing_measurement_is_not_evaluable_unless_the_rest_already_progressed() -> None:
    # L1 alone at 61 mm is already 22% and 11 mm above the 50 mm nadir.
    results = assess_series(BASELINE, [_scan(30, None), _scan(61, None)])
    assert [r.response for r in results] == [Response.NE, Response.PD]
    assert results[0].sum_mm is None


def test_mrecist_uses_the_same_arithmetic_on_viable_tumour() -> None:
    viable = [
        TargetLesion(lesion_id="L1", organ="liver", baseline_mm=30),
        TargetLesion(lesion_id="L2", organ="liver", baseline_mm=20),
    ]
    # Lesions unchanged in size but largely necrotic: viable diameters 12 and 8 mm (-60%).
    [result] = assess_series(viable, [_scan(12, 8)], criteria=ResponseCriteria.MRECIST)
    assert result.criteria is ResponseCriteria.MRECIST
    assert result.response is Response.PR


def test_best_overall_response_is_the_best_before_progression() -> None:
    assert best_overall_response([Response.SD, Response.PR, Response.SD]) is Response.PR
    assert best_overall_response([Response.SD, Response.PD, Response.PR]) is Response.SD
    assert best_overall_response([Response.NE, Response.SD]) is Response.SD
    assert best_overall_response([Response.PD]) is Response.PD
    assert best_overall_response([]) is Response.NE
    assert best_overall_response([Response.PR, Response.CR]) is Response.CR


@pytest.mark.parametrize(
    ("response", "objective", "control"),
    [
        (Response.CR, True, True),
        (Response.PR, True, True),
        (Response.SD, False, True),
        (Response.PD, False, False),
        (Response.NE, False, False),
    ],
)
def test_orr_and_dcr_membership(response: Response, objective: bool, control: bool) -> None:
    assert is_objective_response(response) is objective
    assert is_disease_control(response) is control


def _lesion(lesion_id: str, organ: str, mm: float) -> TargetLesion:
    return TargetLesion(lesion_id=lesion_id, organ=organ, baseline_mm=mm)


def test_target_lesion_choice_follows_recist() -> None:
    validate_target_lesions([_lesion("a", "liver", 10)])  # exactly 10 mm is measurable
    with pytest.raises(ClinicalRuleError, match="at least 10 mm"):
        validate_target_lesions([_lesion("a", "liver", 9.9)])
    with pytest.raises(ClinicalRuleError, match="at most 2 per organ"):
        validate_target_lesions([_lesion(x, "Liver", 20) for x in "abc"])
    organs = ["liver", "liver", "lung", "lung", "bone", "node"]
    with pytest.raises(ClinicalRuleError, match="at most 5 allowed"):
        validate_target_lesions([_lesion(str(i), organ, 20) for i, organ in enumerate(organs)])
    with pytest.raises(ClinicalRuleError, match="unique"):
        validate_target_lesions([_lesion("a", "liver", 20), _lesion("a", "lung", 20)])
    with pytest.raises(ClinicalRuleError, match="at least one"):
        validate_target_lesions([])


def test_a_measurement_for_an_unknown_lesion_is_refused() -> None:
    with pytest.raises(ClinicalRuleError, match="unknown target lesions: L9"):
        assess_series(BASELINE, [FollowUpMeasurement(diameters_mm={"L1": 1, "L2": 1, "L9": 5})])


sums = st.floats(min_value=10, max_value=500)


@given(sums, st.floats(0, 1), st.floats(0, 3))
def test_classification_follows_the_thresholds(
    baseline: float, nadir_ratio: float, ratio: float
) -> None:
    nadir = max(baseline * nadir_ratio, 1.0)
    current = nadir * ratio
    response = classify_response(baseline, nadir, current)
    if current >= nadir * 1.2 + 1e-6 and current - nadir >= 5 + 1e-6:
        assert response is Response.PD
    if response is Response.PR:
        assert current <= baseline * 0.7 + 1e-6
    assert classify_response(baseline, nadir, current, new_lesions=True) is Response.PD

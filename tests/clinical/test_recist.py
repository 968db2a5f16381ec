"""Tumour response by RECIST 1.1 and mRECIST, told as the radiologist would read the scans."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinical.config import RecistConfig
from clinical.errors import ClinicalRuleError
from clinical.recist import (
    FollowUpMeasurement,
    NonTargetResponse,
    Response,
    ResponseCriteria,
    TargetLesion,
    assess_series,
    best_overall_response,
    classify_response,
    is_disease_control,
    is_objective_response,
    overall_response,
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


# -- RECIST 1.1 complete (Eisenhauer et al., Eur J Cancer 2009;45:228-247) ----------------


NT = NonTargetResponse
R = Response
WITH_NODE = [
    TargetLesion(lesion_id="L1", organ="liver", baseline_mm=30),
    TargetLesion(lesion_id="N1", organ="porta hepatis node", baseline_mm=20, nodal=True),
]


def test_a_lesion_reappearing_after_cr_is_progression() -> None:
    # Section 4.3.2 / "lesions that disappear and reappear": after a CR, reappearance is PD,
    # even though 4 mm is far from 20% and 5 mm over the nadir of 0.
    results = assess_series(BASELINE, [_scan(0, 0), _scan(4, 0)])
    assert [r.response for r in results] == [R.CR, R.PD]


def test_reappearance_without_an_earlier_cr_is_judged_on_the_sum() -> None:
    results = assess_series(BASELINE, [_scan(10, 0), _scan(10, 4)])  # 10 -> 14 mm: +40%, 4 mm
    assert [r.response for r in results] == [R.PR, R.PR]


def test_a_target_node_must_be_15_mm_short_axis_and_non_nodal_10_mm() -> None:
    with pytest.raises(ClinicalRuleError, match="nodal target must be at least 15 mm"):
        validate_target_lesions(
            [TargetLesion(lesion_id="N1", organ="node", baseline_mm=14, nodal=True)]
        )
    validate_target_lesions(
        [TargetLesion(lesion_id="N1", organ="node", baseline_mm=15, nodal=True)]
    )


def test_cr_with_a_target_node_means_the_node_is_under_10_mm_not_zero() -> None:
    # Section 4.3.1: CR needs every pathological node to be < 10 mm short axis; the sum need not
    # be 0 (here 9 mm).
    scan = FollowUpMeasurement(diameters_mm={"L1": 0, "N1": 9})
    [result] = assess_series(WITH_NODE, [scan])
    assert (result.response, result.sum_mm) == (R.CR, 9)
    scan = FollowUpMeasurement(diameters_mm={"L1": 0, "N1": 10})
    [result] = assess_series(WITH_NODE, [scan])
    assert result.response is R.PR  # 50 -> 10 mm: -80%, but the node is still 10 mm


def test_too_small_to_measure_counts_5_mm() -> None:
    # Section "Lesions that become too small to measure": default 5 mm.
    scan = FollowUpMeasurement(diameters_mm={"L1": 20}, too_small=("L2",))
    [result] = assess_series(BASELINE, [scan])
    assert result.sum_mm == 25
    assert result.response is R.PR  # 50 -> 25: -50%
    assert RecistConfig().too_small_to_measure_mm == 5.0


@pytest.mark.parametrize(
    ("target", "non_target", "new", "overall"),
    [
        # RECIST 1.1 table 1: time-point response, patients with target (+/- non-target) disease.
        (R.CR, NT.CR, False, R.CR),
        (R.CR, None, False, R.CR),  # no non-target disease at baseline
        (R.CR, NT.NON_CR_NON_PD, False, R.PR),
        (R.CR, NT.NE, False, R.PR),
        (R.PR, NT.NON_CR_NON_PD, False, R.PR),
        (R.PR, NT.NE, False, R.PR),
        (R.SD, NT.NON_CR_NON_PD, False, R.SD),
        (R.SD, NT.NE, False, R.SD),
        (R.NE, NT.NON_CR_NON_PD, False, R.NE),
        (R.PD, NT.CR, False, R.PD),
        (R.CR, NT.PD, False, R.PD),
        (R.SD, NT.PD, False, R.PD),
        (R.CR, NT.CR, True, R.PD),
        (R.NE, NT.NE, True, R.PD),
    ],
)
def test_overall_response_by_recist_table_1(
    target: Response, non_target: NonTargetResponse | None, new: bool, overall: Response
) -> None:
    assert overall_response(target, non_target, new) is overall


def test_non_target_progression_makes_a_shrinking_patient_pd() -> None:
    scan = FollowUpMeasurement(diameters_mm={"L1": 10, "L2": 10}, non_target=NT.PD)
    [result] = assess_series(BASELINE, [scan])
    assert (result.target_response, result.response) == (R.PR, R.PD)


# -- mRECIST (Lencioni & Llovet, Semin Liver Dis 2010;30:52-60) -------------------------------


def test_mrecist_has_no_5_mm_floor_for_progression() -> None:
    # 20 -> 24 mm viable tumour over a nadir of 20: +20% but only 4 mm. RECIST: SD; mRECIST: PD.
    baseline = [TargetLesion(lesion_id="L1", organ="liver", baseline_mm=20)]
    scan = FollowUpMeasurement(diameters_mm={"L1": 24})
    [recist] = assess_series(baseline, [scan], ResponseCriteria.RECIST_1_1)
    [mrecist] = assess_series(baseline, [scan], ResponseCriteria.MRECIST)
    assert (recist.response, mrecist.response) == (R.SD, R.PD)


@pytest.mark.parametrize(
    ("largest_mm", "typical", "counted"),
    [
        (12.0, True, True),  # >= 1 cm with arterial enhancement and washout: PD
        (10.0, True, True),  # exactly 1 cm counts
        (8.0, True, False),  # under 1 cm: equivocal, not PD until it grows
        (15.0, False, False),  # atypical pattern: equivocal
        (None, None, True),  # size and pattern not given: the radiologist's new lesion stands
    ],
)
def test_mrecist_new_lesion_rules(
    largest_mm: float | None, typical: bool | None, counted: bool
) -> None:
    baseline = [TargetLesion(lesion_id="L1", organ="liver", baseline_mm=40)]
    scan = FollowUpMeasurement(
        diameters_mm={"L1": 20},
        new_lesions=True,
        new_lesion_mm=largest_mm,
        new_lesion_typical=typical,
    )
    [mrecist] = assess_series(baseline, [scan], ResponseCriteria.MRECIST)
    assert mrecist.new_lesion_counted is counted
    assert mrecist.response is (R.PD if counted else R.PR)
    [recist] = assess_series(baseline, [scan], ResponseCriteria.RECIST_1_1)
    assert recist.response is R.PD  # RECIST 1.1: any unequivocal new lesion


@given(st.lists(st.floats(0, 80), min_size=2, max_size=6))
def test_once_pd_the_best_response_never_improves(sums: list[float]) -> None:
    baseline = [TargetLesion(lesion_id="L1", organ="liver", baseline_mm=40)]
    scans = [FollowUpMeasurement(diameters_mm={"L1": s}) for s in sums]
    results = assess_series(baseline, scans)
    responses = [r.response for r in results]
    if R.PD in responses:
        first = responses.index(R.PD)
        assert best_overall_response(responses) == best_overall_response(responses[: first + 1])
    for r in results:  # the nadir never rises
        assert r.nadir_sum_mm <= 40

"""CTCAE v5 grades for the labs followed after SIRT, exactly on and just past each boundary."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinical.config import CtcaeConfig, ReferenceRange
from clinical.ctcae import LabTest, grade_lab, grade_lab_detail, grade_labs
from clinical.errors import ClinicalRuleError

# Default reference ranges: bilirubin ULN 21 umol/L, ALT/AST ULN 40, ALP ULN 130 U/L,
# albumin LLN 35 g/L, platelets LLN 150 x10^9/L.


@pytest.mark.parametrize(
    ("value", "grade"),
    [
        (21.0, 0),  # at the ULN is normal
        (21.1, 1),
        (31.5, 1),  # exactly 1.5 x ULN is still grade 1
        (31.6, 2),  # just above is grade 2
        (63.0, 2),  # exactly 3 x ULN
        (63.1, 3),
        (210.0, 3),  # exactly 10 x ULN
        (210.1, 4),
    ],
)
def test_bilirubin_with_a_normal_baseline(value: float, grade: int) -> None:
    assert grade_lab(LabTest.BILIRUBIN, value, baseline=15.0) == grade


@pytest.mark.parametrize(
    ("value", "grade"),
    [(40, 0), (41, 1), (120, 1), (121, 2), (200, 2), (201, 3), (800, 3), (801, 4)],
)
def test_alt_and_ast_with_a_normal_baseline(value: float, grade: int) -> None:
    assert grade_lab(LabTest.ALT, value) == grade
    assert grade_lab(LabTest.AST, value) == grade


@pytest.mark.parametrize(
    ("value", "grade"),
    [(130, 0), (131, 1), (325, 1), (326, 2), (650, 2), (651, 3), (2600, 3), (2601, 4)],
)
def test_alp_with_a_normal_baseline(value: float, grade: int) -> None:
    assert grade_lab(LabTest.ALP, value) == grade


def test_an_abnormal_alt_baseline_is_graded_in_multiples_of_baseline() -> None:
    # Baseline 60 U/L (> ULN 40). Grade 1 starts above 1.5 x baseline (90), grade 2 above 3x (180).
    assert grade_lab(LabTest.ALT, 85, baseline=60) == 0
    assert grade_lab(LabTest.ALT, 90, baseline=60) == 0
    assert grade_lab(LabTest.ALT, 91, baseline=60) == 1
    assert grade_lab(LabTest.ALT, 180, baseline=60) == 1
    assert grade_lab(LabTest.ALT, 181, baseline=60) == 2
    assert grade_lab(LabTest.ALT, 1201, baseline=60) == 4
    detail = grade_lab_detail(LabTest.ALT, 181, baseline=60)
    assert (detail.basis, detail.reference) == ("baseline", 60)


def test_an_abnormal_bilirubin_baseline_starts_grade_1_just_above_baseline() -> None:
    # Baseline 30 umol/L (> ULN 21): >1.0-1.5 x baseline is grade 1.
    assert grade_lab(LabTest.BILIRUBIN, 30, baseline=30) == 0
    assert grade_lab(LabTest.BILIRUBIN, 31, baseline=30) == 1
    assert grade_lab(LabTest.BILIRUBIN, 45, baseline=30) == 1
    assert grade_lab(LabTest.BILIRUBIN, 46, baseline=30) == 2


def test_an_abnormal_alp_baseline_starts_grade_1_at_twice_baseline() -> None:
    assert grade_lab(LabTest.ALP, 400, baseline=200) == 0
    assert grade_lab(LabTest.ALP, 401, baseline=200) == 1
    assert grade_lab(LabTest.ALP, 501, baseline=200) == 2


@pytest.mark.parametrize(
    ("value", "grade"),
    [(35.0, 0), (34.9, 1), (30.0, 1), (29.9, 2), (20.0, 2), (19.9, 3)],
)
def test_albumin_in_g_per_litre(value: float, grade: int) -> None:
    assert grade_lab(LabTest.ALBUMIN, value) == grade


@pytest.mark.parametrize(
    ("value", "grade"),
    [(150, 0), (149, 1), (75, 1), (74.9, 2), (50, 2), (49.9, 3), (25, 3), (24.9, 4)],
)
def test_platelet_count_decrease(value: float, grade: int) -> None:
    assert grade_lab(LabTest.PLATELETS, value) == grade


def test_the_laboratorys_own_reference_range_is_used() -> None:
    ranges = dict(CtcaeConfig().reference_ranges)
    ranges[LabTest.BILIRUBIN] = ReferenceRange(lower=0, upper=17)
    config = CtcaeConfig(reference_ranges=ranges)
    assert grade_lab(LabTest.BILIRUBIN, 20, config=config) == 1
    assert grade_lab(LabTest.BILIRUBIN, 20) == 0


def test_a_panel_is_graded_each_against_its_own_baseline() -> None:
    grades = grade_labs(
        {LabTest.BILIRUBIN: 35.0, LabTest.ALT: 91.0, LabTest.ALBUMIN: 28.0},
        baselines={LabTest.ALT: 60.0},
    )
    assert grades == {LabTest.BILIRUBIN: 2, LabTest.ALT: 1, LabTest.ALBUMIN: 2}


def test_a_negative_result_is_refused() -> None:
    with pytest.raises(ClinicalRuleError):
        grade_lab(LabTest.ALT, -1)


@given(st.sampled_from(list(LabTest)), st.floats(0, 5000), st.floats(0, 5000))
def test_grade_is_0_to_4_and_monotone(test: LabTest, a: float, b: float) -> None:
    low, high = sorted((a, b))
    g_low, g_high = grade_lab(test, low), grade_lab(test, high)
    assert 0 <= g_low <= 4
    assert 0 <= g_high <= 4
    if test in (LabTest.ALBUMIN, LabTest.PLATELETS):
        assert g_low >= g_high
    else:
        assert g_low <= g_high


# CTCAE v5.0 (NCI, 2017), "Investigations": INR increased, GGT increased, AST increased.
# Defaults: INR ULN 1.0, GGT ULN 55 U/L, AST ULN 40 U/L (local ranges [practice]).
@pytest.mark.parametrize(
    ("test", "value", "baseline", "anticoagulated", "grade", "row"),
    [
        (LabTest.INR, 1.2, None, False, 0, ">1.2-1.5 x ULN is grade 1: 1.2 itself is not"),
        (LabTest.INR, 1.21, None, False, 1, ">1.2-1.5 x ULN"),
        (LabTest.INR, 1.5, None, False, 1, "1.5 x ULN is still grade 1"),
        (LabTest.INR, 1.51, None, False, 2, ">1.5-2.5 x ULN"),
        (LabTest.INR, 2.51, None, False, 3, ">2.5 x ULN; no grade 4"),
        (LabTest.INR, 9.0, None, False, 3, "no grade 4 for INR"),
        (LabTest.INR, 2.5, 2.5, True, 0, "on anticoagulation: baseline 2.5, unchanged"),
        (LabTest.INR, 2.6, 2.5, True, 1, ">1-1.5 x baseline if on anticoagulation"),
        (LabTest.INR, 3.8, 2.5, True, 2, ">1.5-2.5 x baseline"),
        (LabTest.INR, 6.3, 2.5, True, 3, ">2.5 x baseline"),
        (LabTest.INR, 2.6, 2.5, False, 3, "not anticoagulated: graded on the ULN"),
        (LabTest.GGT, 55, None, False, 0, "at the ULN"),
        (LabTest.GGT, 56, None, False, 1, ">ULN-2.5 x ULN"),
        (LabTest.GGT, 138, None, False, 2, ">2.5-5.0 x ULN (137.5)"),
        (LabTest.GGT, 276, None, False, 3, ">5.0-20.0 x ULN (275)"),
        (LabTest.GGT, 1101, None, False, 4, ">20.0 x ULN (1100)"),
        (LabTest.GGT, 199, 100, False, 0, "abnormal baseline: grade 1 from 2.0 x baseline"),
        (LabTest.GGT, 201, 100, False, 1, "2.0-2.5 x baseline if baseline was abnormal"),
        (LabTest.GGT, 251, 100, False, 2, ">2.5-5.0 x baseline"),
        (LabTest.AST, 121, None, False, 2, ">3.0-5.0 x ULN"),
        (LabTest.AST, 799, None, False, 3, ">5.0-20.0 x ULN"),
        (LabTest.AST, 801, None, False, 4, ">20.0 x ULN"),
        (LabTest.AST, 89, 60, False, 0, "abnormal baseline: grade 1 from 1.5 x baseline"),
        (LabTest.AST, 91, 60, False, 1, ">1.5-3.0 x baseline if baseline was abnormal"),
    ],
)
def test_inr_ggt_and_ast_by_ctcae_v5(
    test: LabTest, value: float, baseline: float | None, anticoagulated: bool, grade: int, row: str
) -> None:
    assert grade_lab(test, value, baseline, anticoagulated=anticoagulated) == grade, row


def test_configs_recorded_before_inr_and_ggt_were_graded_still_load() -> None:
    old = CtcaeConfig().model_dump(mode="json")
    for key in ("reference_ranges", "high_grading"):
        for test in ("inr", "ggt"):
            del old[key][test]
    assert CtcaeConfig.model_validate(old) == CtcaeConfig()

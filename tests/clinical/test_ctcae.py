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

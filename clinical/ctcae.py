"""CTCAE v5 grading of the liver and blood tests followed after SIRT.

Rising tests (bilirubin, ALT, AST, ALP, GGT, INR) are graded in multiples of the ULN when the
baseline was normal (or is unknown), and in multiples of the baseline when the baseline was
above the ULN. CTCAE v5 starts grade 1 at a higher multiple of an abnormal baseline for ALT/AST
(1.5x) and ALP/GGT (2.0x) than for bilirubin (1.0x): ``abnormal_baseline_g1_multiple``.
INR is the exception: CTCAE v5 grades it against the baseline when the patient is on
anticoagulation (>1-1.5, >1.5-2.5, >2.5 x baseline), else against the ULN (>1.2-1.5, >1.5-2.5,
>2.5 x ULN); it has no grade 4.
Falling tests (albumin in g/L, platelets in x10^9/L) are grade 1 below the LLN, then graded by
absolute bounds (albumin <30, <20 g/L, i.e. 3 and 2 g/dL; platelets <75, <50, <25).

Every bound is exclusive, as CTCAE writes them (">1.5-3.0 x ULN"): a value exactly on a bound
keeps the lower grade, so bilirubin at exactly 1.5 x ULN is grade 1 and just above is grade 2.
Bounds are compared as ``value > multiple * reference`` so a value entered as exactly that
product is not pushed over by rounding in a division.
"""

from collections.abc import Mapping
from typing import Literal

from pydantic import ConfigDict

from clinical.config import CtcaeConfig
from clinical.enums import LabTest
from clinical.errors import ClinicalRuleError
from clinical.finite import Finite

__all__ = ["LabGrade", "LabTest", "grade_lab", "grade_lab_detail", "grade_labs"]

_DEFAULT = CtcaeConfig()

Basis = Literal["uln", "baseline", "lln"]


class LabGrade(Finite):
    """A graded result with what it was graded against, for display and audit."""

    model_config = ConfigDict(frozen=True)

    test: LabTest
    value: float
    grade: int
    basis: Basis
    reference: float


def grade_lab_detail(
    test: LabTest,
    value: float,
    baseline: float | None = None,
    config: CtcaeConfig = _DEFAULT,
    anticoagulated: bool = False,
) -> LabGrade:
    """Grade one result (0 when normal) and say which reference it was graded against.

    INR is graded against the baseline only when the patient is anticoagulated (CTCAE v5).
    """
    if value < 0:
        raise ClinicalRuleError(f"{test.value} must not be negative (got {value})")
    reference_range = config.reference_ranges[test]
    if test in config.high_grading:
        rule = config.high_grading[test]
        uln = reference_range.upper
        own = (
            anticoagulated
            if rule.baseline_when == "anticoagulated"
            else (baseline is not None and baseline > uln)
        )
        if baseline is not None and own:
            # Grade the change from the patient's own starting point.
            bounds = rule.baseline_multiples or (
                rule.abnormal_baseline_g1_multiple,
                *rule.grade_multiples[1:],
            )
            grade = sum(1 for multiple in bounds if value > multiple * baseline)
            return LabGrade(
                test=test, value=value, grade=grade, basis="baseline", reference=baseline
            )
        grade = sum(1 for multiple in rule.grade_multiples if value > multiple * uln)
        return LabGrade(test=test, value=value, grade=grade, basis="uln", reference=uln)
    if test in config.low_grading:
        lln = reference_range.lower
        grade = 0
        if value < lln:
            grade = 1 + sum(1 for bound in config.low_grading[test].grade_below if value < bound)
        return LabGrade(test=test, value=value, grade=grade, basis="lln", reference=lln)
    raise ClinicalRuleError(f"no CTCAE grading is configured for {test.value}")


def grade_lab(
    test: LabTest,
    value: float,
    baseline: float | None = None,
    config: CtcaeConfig = _DEFAULT,
    anticoagulated: bool = False,
) -> int:
    """CTCAE v5 grade 0-4 of one result; ``baseline`` matters only for the rising tests."""
    return grade_lab_detail(test, value, baseline, config, anticoagulated).grade


def grade_labs(
    values: Mapping[LabTest, float],
    baselines: Mapping[LabTest, float] | None = None,
    config: CtcaeConfig = _DEFAULT,
    anticoagulated: bool = False,
) -> dict[LabTest, int]:
    """Grade a panel of results, each against its own baseline when one is given."""
    baselines = baselines or {}
    return {
        test: grade_lab(test, value, baselines.get(test), config, anticoagulated)
        for test, value in values.items()
    }

"""The MDT checklist: flags that name the value and the limit; the MDT still decides."""

import pytest
from pydantic import ValidationError

from clinical.config import DosimetryLimits, EligibilityLimits
from clinical.eligibility import (
    EligibilityFlag,
    EligibilityInputs,
    ExtrahepaticDisease,
    assess_eligibility,
    hard_contraindications,
    missing_fields,
)

FIT = EligibilityInputs(
    ecog=1,
    child_pugh_score=5,
    life_expectancy_months=24,
    suitable_for_surgery_or_ablation=False,
    extrahepatic_disease=ExtrahepaticDisease.LIMITED,
    bilirubin_umol_l=12,
    platelets_10e9_l=210,
    leukocytes_10e9_l=6.1,
    inr=1.0,
    egfr_ml_min=80,
    tumour_burden_pct=30,
    weeks_since_systemic_therapy=10,
    active_antiangiogenic=False,
    main_portal_vein_thrombosis=False,
    uncorrectable_gi_deposition=False,
    expected_lung_dose_gy=8.0,
)


def _codes(flags: list[EligibilityFlag]) -> list[str]:
    return [flag.code for flag in flags]


def test_a_fit_patient_with_liver_dominant_disease_raises_no_flags() -> None:
    assert assess_eligibility(FIT) == []
    assert missing_fields(FIT) == []


def test_high_bilirubin_is_a_contraindication_that_names_value_and_limit() -> None:
    [flag] = assess_eligibility(FIT.model_copy(update={"bilirubin_umol_l": 40.0}))
    assert flag == EligibilityFlag(
        code="bilirubin_high",
        severity="contraindication",
        field="bilirubin_umol_l",
        reason="bilirubin 40.0 umol/L is above the limit of 34.2 umol/L",
    )


@pytest.mark.parametrize(
    ("field", "at_limit", "beyond", "code"),
    [
        ("bilirubin_umol_l", 34.2, 34.3, "bilirubin_high"),
        ("platelets_10e9_l", 50.0, 49.9, "platelets_low"),
        ("leukocytes_10e9_l", 2.0, 1.9, "leukocytes_low"),
        ("inr", 1.5, 1.51, "inr_high"),
        ("egfr_ml_min", 35.0, 34.9, "egfr_low"),
        ("tumour_burden_pct", 70.0, 70.1, "tumour_burden_high"),
        ("weeks_since_systemic_therapy", 4.0, 3.9, "recent_systemic_therapy"),
        ("expected_lung_dose_gy", 30.0, 30.1, "lung_dose_high"),
    ],
)
def test_a_value_exactly_at_a_limit_is_not_flagged(
    field: str, at_limit: float, beyond: float, code: str
) -> None:
    assert assess_eligibility(FIT.model_copy(update={field: at_limit})) == []
    flags = assess_eligibility(FIT.model_copy(update={field: beyond}))
    assert _codes(flags) == [code]
    assert flags[0].severity == "contraindication"


def test_unmet_criteria_for_sirt_are_cautions() -> None:
    patient = FIT.model_copy(
        update={
            "ecog": 3,
            "child_pugh_score": 8,
            "life_expectancy_months": 2.0,
            "suitable_for_surgery_or_ablation": True,
            "extrahepatic_disease": ExtrahepaticDisease.EXTENSIVE,
        }
    )
    flags = assess_eligibility(patient)
    assert _codes(flags) == [
        "ecog_high",
        "child_pugh_high",
        "life_expectancy_short",
        "suitable_for_surgery_or_ablation",
        "extrahepatic_disease_extensive",
    ]
    assert {flag.severity for flag in flags} == {"caution"}
    assert flags[0].reason == "ECOG 3 is above the limit of 2"
    assert flags[2].reason == "life expectancy 2.0 months is below the limit of 3.0 months"
    assert hard_contraindications(flags) == []


def test_child_pugh_b7_is_still_acceptable() -> None:
    assert assess_eligibility(FIT.model_copy(update={"child_pugh_score": 7})) == []


def test_yes_no_contraindications() -> None:
    patient = FIT.model_copy(
        update={
            "active_antiangiogenic": True,
            "main_portal_vein_thrombosis": True,
            "uncorrectable_gi_deposition": True,
        }
    )
    flags = assess_eligibility(patient)
    assert _codes(flags) == [
        "active_antiangiogenic",
        "main_portal_vein_thrombosis",
        "gi_deposition_uncorrectable",
    ]
    assert hard_contraindications(flags) == flags


def test_a_repeat_treatment_is_flagged_when_cumulative_lung_dose_passes_50_gy() -> None:
    repeat = FIT.model_copy(update={"expected_lung_dose_gy": 20.0, "prior_lung_dose_gy": 30.0})
    assert _codes(assess_eligibility(repeat)) == ["repeat_sirt_lung_dose"]
    flags = assess_eligibility(repeat.model_copy(update={"expected_lung_dose_gy": 21.0}))
    flag = flags[-1]
    assert flag.code == "cumulative_lung_dose_high"
    assert flag.reason == "cumulative lung dose 51.0 Gy is above the limit of 50.0 Gy"


@pytest.mark.parametrize(
    ("prior", "codes", "severity"),
    [
        (0.0, [], None),  # a first SIRT
        (28.0, ["repeat_sirt_lung_dose"], "caution"),  # 22 Gy of the 50 Gy left
        (49.9, ["repeat_sirt_lung_dose"], "caution"),
        (50.0, ["cumulative_lung_dose_reached"], "contraindication"),  # van Roekel table 1
    ],
)
def test_the_mdt_sees_the_recorded_cumulative_lung_dose_before_a_repeat_sirt(
    prior: float, codes: list[str], severity: str | None
) -> None:
    # At MDT no plan exists yet, so no expected lung dose: the recorded dose alone speaks.
    at_mdt = {"prior_lung_dose_gy": prior, "expected_lung_dose_gy": None}
    flags = assess_eligibility(FIT.model_copy(update=at_mdt))
    assert _codes(flags) == codes
    assert [f.severity for f in flags] == ([severity] if severity else [])


def test_hard_contraindications_keep_only_contraindications() -> None:
    flags = assess_eligibility(FIT.model_copy(update={"ecog": 3, "inr": 1.8}))
    assert _codes(hard_contraindications(flags)) == ["inr_high"]


def test_unknown_values_raise_no_flag_but_are_listed_as_missing() -> None:
    nothing_known = EligibilityInputs()
    assert assess_eligibility(nothing_known) == []
    assert "bilirubin_umol_l" in missing_fields(nothing_known)
    assert "ecog" in missing_fields(nothing_known)
    # Known only after work-up, so not missing at MDT:
    assert "uncorrectable_gi_deposition" not in missing_fields(nothing_known)
    partly = FIT.model_copy(update={"inr": None, "egfr_ml_min": None})
    assert missing_fields(partly) == ["inr", "egfr_ml_min"]


def test_a_centre_can_change_a_limit_and_a_severity() -> None:
    limits = EligibilityLimits(
        max_bilirubin_umol_l=50.0, severity_overrides={"ecog_high": "contraindication"}
    )
    patient = FIT.model_copy(update={"bilirubin_umol_l": 40.0, "ecog": 3})
    [flag] = assess_eligibility(patient, limits)
    assert flag.code == "ecog_high"
    assert flag.severity == "contraindication"


def test_the_lung_dose_limit_comes_from_the_dosimetry_config() -> None:
    patient = FIT.model_copy(update={"expected_lung_dose_gy": 26.0})
    flags = assess_eligibility(patient, dosimetry=DosimetryLimits(max_lung_dose_single_gy=25.0))
    assert flags[0].reason == "expected lung dose 26.0 Gy is above the limit of 25.0 Gy"


@pytest.mark.parametrize(
    ("field", "value"), [("ecog", 5), ("child_pugh_score", 4), ("tumour_burden_pct", 101)]
)
def test_impossible_values_are_rejected_at_the_edge(field: str, value: float) -> None:
    with pytest.raises(ValidationError, match=field):
        EligibilityInputs.model_validate({field: value})

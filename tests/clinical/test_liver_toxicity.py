"""REILD, its Braat grade, and post-radioembolisation syndrome after SIRT."""

import pytest

from clinical.config import LiverToxicityConfig
from clinical.liver_toxicity import (
    AscitesStatus,
    BraatGrade,
    BraatInputs,
    PrsSymptoms,
    ReildInputs,
    ReildTreatment,
    assess_reild,
    braat_grade,
    prs_max_grade,
    prs_present,
    prs_symptoms_present,
)

REILD = ReildInputs(
    days_since_sirt=42,
    bilirubin_umol_l=55.0,
    albumin_g_l=27.0,
    ascites=AscitesStatus.NEW_OR_WORSE,
)


def test_jaundice_new_ascites_and_low_albumin_six_weeks_after_sirt_is_reild() -> None:
    result = assess_reild(REILD)
    assert result.present
    assert result.reason == (
        "REILD: bilirubin 55 umol/L, albumin 27 g/L and new or worsening ascites on day 42, "
        "without progression or biliary obstruction"
    )


@pytest.mark.parametrize(("day", "present"), [(13, False), (14, True), (122, True), (123, False)])
def test_the_reild_window_runs_from_day_14_to_day_122(day: int, present: bool) -> None:
    assert assess_reild(REILD.model_copy(update={"days_since_sirt": day})).present is present


def test_progression_or_biliary_obstruction_explains_the_picture_instead() -> None:
    progressed = assess_reild(REILD.model_copy(update={"tumour_progression": True}))
    assert not progressed.present
    assert "tumour progression explains the findings" in progressed.reason
    obstructed = assess_reild(REILD.model_copy(update={"biliary_obstruction": True}))
    assert not obstructed.present


def test_every_unmet_criterion_is_named() -> None:
    result = assess_reild(
        REILD.model_copy(
            update={"bilirubin_umol_l": 21.0, "albumin_g_l": 35.0, "ascites": AscitesStatus.STABLE}
        )
    )
    assert not result.present
    assert result.reason == (
        "REILD criteria not met: bilirubin 21 umol/L is not above 21 umol/L; "
        "no new or worsening ascites; albumin 35 g/L is not below 35 g/L"
    )


def test_a_centre_can_use_a_stricter_jaundice_threshold() -> None:
    config = LiverToxicityConfig(reild_bilirubin_above_umol_l=51.0)  # 3 mg/dL
    assert assess_reild(REILD, config).present
    assert not assess_reild(REILD.model_copy(update={"bilirubin_umol_l": 50.0}), config).present


@pytest.mark.parametrize(
    ("inputs", "grade"),
    [
        (BraatInputs(), BraatGrade.NONE),
        (BraatInputs(laboratory_abnormality=True), BraatGrade.LABORATORY_ONLY),
        (
            BraatInputs(laboratory_abnormality=True, clinical_signs=True),
            BraatGrade.CLINICAL_NO_TREATMENT,
        ),
        (
            BraatInputs(clinical_signs=True, treatment=ReildTreatment.MEDICAL),
            BraatGrade.MEDICAL_TREATMENT,
        ),
        (
            BraatInputs(clinical_signs=True, treatment=ReildTreatment.INVASIVE),
            BraatGrade.INVASIVE_TREATMENT,
        ),
        (BraatInputs(treatment=ReildTreatment.INVASIVE, fatal=True), BraatGrade.FATAL),
    ],
)
def test_braat_grade_is_the_highest_reached(inputs: BraatInputs, grade: BraatGrade) -> None:
    assert braat_grade(inputs) is grade


def test_paracentesis_for_ascites_is_braat_grade_4() -> None:
    assert braat_grade(BraatInputs(clinical_signs=True, treatment=ReildTreatment.INVASIVE)) == 4


def test_no_symptoms_is_no_prs() -> None:
    assert not prs_present(PrsSymptoms())
    assert prs_max_grade(PrsSymptoms()) == 0


def test_fatigue_and_nausea_after_sirt_is_prs() -> None:
    symptoms = PrsSymptoms(fatigue=2, nausea=1)
    assert prs_present(symptoms)
    assert prs_symptoms_present(symptoms) == ["fatigue", "nausea"]
    assert prs_max_grade(symptoms) == 2


def test_a_centre_may_require_two_symptoms_of_grade_2() -> None:
    config = LiverToxicityConfig(prs_min_symptoms=2, prs_min_grade=2)
    assert not prs_present(PrsSymptoms(fatigue=2, nausea=1), config)
    assert prs_present(PrsSymptoms(fatigue=2, abdominal_pain=3), config)


def test_a_symptom_grade_above_5_is_rejected() -> None:
    with pytest.raises(ValueError, match="fever"):
        PrsSymptoms(fever=6)

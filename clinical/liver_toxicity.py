"""Liver toxicity after SIRT: REILD detection, Braat REILD grade, and post-radioembolisation
syndrome (PRS).

REILD (radioembolisation-induced liver disease): raised bilirubin (jaundice) with new or
worsening ascites and low albumin, between 2 weeks and about 4 months after SIRT, without tumour
progression or biliary obstruction to explain it. All numbers are in ``LiverToxicityConfig``.

Braat grading (Braat et al. 2017) as used here: 0 none; 1 laboratory abnormality only; 2 clinical
signs (jaundice/ascites) needing no treatment; 3 managed medically, without invasive treatment;
4 needing paracentesis, TIPS or dialysis; 5 fatal. Grades 3-5 are as published; the wording of
grades 1-2 is this product's reading and is listed so a centre can check it.

PRS: fatigue, nausea, vomiting, anorexia, fever and abdominal pain, each CTCAE-graded 0-5; it is
present when enough symptoms reach the configured grade (default: any one, grade 1 or more).
"""

from enum import IntEnum, StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field

from clinical.config import LiverToxicityConfig
from clinical.finite import Finite

_DEFAULT = LiverToxicityConfig()

CtcaeGrade = Annotated[int, Field(ge=0, le=5)]


class AscitesStatus(StrEnum):
    """Ascites compared with before SIRT."""

    NONE = "none"
    STABLE = "stable"  # present before and not worse
    NEW_OR_WORSE = "new_or_worse"


class ReildInputs(Finite):
    """Findings at one review, for the REILD check."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    days_since_sirt: int = Field(ge=0)
    bilirubin_umol_l: float = Field(ge=0)
    albumin_g_l: float = Field(ge=0)
    ascites: AscitesStatus
    tumour_progression: bool = False
    biliary_obstruction: bool = False


class ReildAssessment(Finite):
    """Whether REILD criteria are met, with a reason that names what decided it."""

    model_config = ConfigDict(frozen=True)

    present: bool
    reason: str


def assess_reild(inputs: ReildInputs, config: LiverToxicityConfig = _DEFAULT) -> ReildAssessment:
    """Check the REILD criteria; the reason lists every criterion that is not met."""
    start, end = config.reild_window_start_days, config.reild_window_end_days
    unmet: list[str] = []
    if not start <= inputs.days_since_sirt <= end:
        unmet.append(f"day {inputs.days_since_sirt} after SIRT is outside days {start}-{end}")
    if not inputs.bilirubin_umol_l > config.reild_bilirubin_above_umol_l:
        unmet.append(
            f"bilirubin {inputs.bilirubin_umol_l:g} umol/L is not above "
            f"{config.reild_bilirubin_above_umol_l:g} umol/L"
        )
    if inputs.ascites is not AscitesStatus.NEW_OR_WORSE:
        unmet.append("no new or worsening ascites")
    if not inputs.albumin_g_l < config.reild_albumin_below_g_l:
        limit = config.reild_albumin_below_g_l
        unmet.append(f"albumin {inputs.albumin_g_l:g} g/L is not below {limit:g} g/L")
    if inputs.tumour_progression:
        unmet.append("tumour progression explains the findings")
    if inputs.biliary_obstruction:
        unmet.append("biliary obstruction explains the findings")
    if unmet:
        return ReildAssessment(present=False, reason="REILD criteria not met: " + "; ".join(unmet))
    return ReildAssessment(
        present=True,
        reason=(
            f"REILD: bilirubin {inputs.bilirubin_umol_l:g} umol/L, albumin "
            f"{inputs.albumin_g_l:g} g/L and new or worsening ascites on day "
            f"{inputs.days_since_sirt}, without progression or biliary obstruction"
        ),
    )


class BraatGrade(IntEnum):
    """REILD severity (Braat et al. 2017)."""

    NONE = 0
    LABORATORY_ONLY = 1
    CLINICAL_NO_TREATMENT = 2
    MEDICAL_TREATMENT = 3
    INVASIVE_TREATMENT = 4
    FATAL = 5


class ReildTreatment(StrEnum):
    """The most intensive treatment REILD needed."""

    NONE = "none"
    MEDICAL = "medical"  # e.g. diuretics, steroids: no invasive procedure
    INVASIVE = "invasive"  # paracentesis, TIPS, dialysis


class BraatInputs(Finite):
    """What the clinician records to grade REILD."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    laboratory_abnormality: bool = False
    clinical_signs: bool = False
    treatment: ReildTreatment = ReildTreatment.NONE
    fatal: bool = False


def braat_grade(inputs: BraatInputs) -> BraatGrade:
    """The highest Braat grade the findings reach."""
    if inputs.fatal:
        return BraatGrade.FATAL
    if inputs.treatment is ReildTreatment.INVASIVE:
        return BraatGrade.INVASIVE_TREATMENT
    if inputs.treatment is ReildTreatment.MEDICAL:
        return BraatGrade.MEDICAL_TREATMENT
    if inputs.clinical_signs:
        return BraatGrade.CLINICAL_NO_TREATMENT
    if inputs.laboratory_abnormality:
        return BraatGrade.LABORATORY_ONLY
    return BraatGrade.NONE


class PrsSymptoms(Finite):
    """CTCAE grade (0-5) of each post-radioembolisation syndrome symptom."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    fatigue: CtcaeGrade = 0
    nausea: CtcaeGrade = 0
    vomiting: CtcaeGrade = 0
    anorexia: CtcaeGrade = 0
    fever: CtcaeGrade = 0
    abdominal_pain: CtcaeGrade = 0

    def grades(self) -> dict[str, int]:
        """Symptom name -> grade, in a fixed order."""
        return {name: int(getattr(self, name)) for name in type(self).model_fields}


def prs_symptoms_present(
    symptoms: PrsSymptoms, config: LiverToxicityConfig = _DEFAULT
) -> list[str]:
    """Names of the symptoms at or above the configured grade."""
    return [name for name, grade in symptoms.grades().items() if grade >= config.prs_min_grade]


def prs_present(symptoms: PrsSymptoms, config: LiverToxicityConfig = _DEFAULT) -> bool:
    """True when enough PRS symptoms reach the configured grade."""
    return len(prs_symptoms_present(symptoms, config)) >= config.prs_min_symptoms


def prs_max_grade(symptoms: PrsSymptoms) -> int:
    """The worst symptom grade, for grade >= 3 toxicity reporting."""
    return max(symptoms.grades().values())

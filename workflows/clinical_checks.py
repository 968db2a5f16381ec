"""Applies the pure clinical rules to the pathway's step payloads. No I/O: safe in workflows.

Validators use the refusals; handlers store the derived results next to the raw values.
"""

from collections.abc import Sequence
from datetime import date
from typing import Any

from clinical.config import ClinicalConfig
from clinical.ctcae import grade_labs
from clinical.eligibility import (
    EligibilityFlag,
    EligibilityInputs,
    ExtrahepaticDisease,
    assess_eligibility,
    hard_contraindications,
)
from clinical.enums import LabTest
from clinical.liver_toxicity import (
    AscitesStatus,
    ReildInputs,
    assess_reild,
    prs_max_grade,
    prs_present,
)
from clinical.plan_check import (
    DeliveryAssessment,
    PlanAssessment,
    PlanFigures,
    WorkupFigures,
    assess_delivery,
    assess_plan,
)
from clinical.qlq_c30 import score_qlq_c30
from clinical.recist import (
    FollowUpMeasurement,
    Response,
    ResponseCriteria,
    TargetLesion,
    assess_series,
)
from models.labels import label_for
from models.steps import (
    DosimetryPlan,
    FollowUpVisitRecord,
    Labs,
    MdtDecision,
    TreatmentRecord,
    WorkupResult,
)

# Labs field -> the CTCAE test it is graded as (units match: umol/L, U/L, g/L, 10^9/L).
_GRADED_LABS = {
    "bilirubin_umol_l": LabTest.BILIRUBIN,
    "alt_u_l": LabTest.ALT,
    "ast_u_l": LabTest.AST,
    "alp_u_l": LabTest.ALP,
    "albumin_g_l": LabTest.ALBUMIN,
    "platelets_10e9_l": LabTest.PLATELETS,
    "ggt_u_l": LabTest.GGT,
    "inr": LabTest.INR,
}


def mdt_flags(
    d: MdtDecision, prior_lung_dose_gy: float, config: ClinicalConfig
) -> list[EligibilityFlag]:
    """The eligibility checklist for what the MDT recorded."""
    inputs = EligibilityInputs(
        ecog=d.ecog,
        child_pugh_score=d.child_pugh_score,
        extrahepatic_disease=(
            ExtrahepaticDisease(d.extrahepatic_disease) if d.extrahepatic_disease else None
        ),
        bilirubin_umol_l=d.labs.bilirubin_umol_l,
        platelets_10e9_l=d.labs.platelets_10e9_l,
        leukocytes_10e9_l=d.labs.wbc_10e9_l,
        inr=d.labs.inr,
        egfr_ml_min=d.labs.egfr_ml_min,
        tumour_burden_pct=d.tumour_burden_pct,
        weeks_since_systemic_therapy=d.weeks_since_systemic_therapy,
        active_antiangiogenic=d.active_antiangiogenic,
        main_portal_vein_thrombosis=d.main_portal_vein_thrombosis,
        prior_lung_dose_gy=prior_lung_dose_gy,
    )
    return assess_eligibility(inputs, config.eligibility, config.dosimetry)


def _field_path(flag: EligibilityFlag) -> str:
    # Lab values sit under "labs" in the MDT payload; white cells are "wbc" there.
    lab_field = "wbc_10e9_l" if flag.field == "leukocytes_10e9_l" else flag.field
    return f"labs.{lab_field}" if lab_field in Labs.model_fields else flag.field


def mdt_refusal(d: MdtDecision, flags: Sequence[EligibilityFlag]) -> str | None:
    """Why a 'proceed' must be refused: a contraindication without an override reason."""
    hard = hard_contraindications(flags)
    if d.decision != "proceed" or not hard or d.override_reason:
        return None
    first = hard[0]
    others = f" (and {len(hard) - 1} more)" if len(hard) > 1 else ""
    return (
        f"{_field_path(first)}: {first.reason}{others}; "
        f"to proceed despite a contraindication, fill in '{label_for('override_reason')}'"
    )


def workup_figures(workup: WorkupResult) -> WorkupFigures:
    """The work-up's figures dosimetry is computed from."""
    return WorkupFigures(
        lung_shunt_fraction=workup.lung_shunt_fraction,
        whole_liver_volume_ml=workup.whole_liver_volume_ml,
        tumour_volume_ml=workup.tumour_volume_ml,
        perfused_volume_ml=workup.perfused_volume_ml,
        lung_volume_ml=workup.lung_volume_ml,
    )


def plan_figures(plan: DosimetryPlan) -> PlanFigures:
    """The plan's total activity and typed doses, for recomputation."""
    return PlanFigures(
        device=plan.device,
        method=plan.method,
        activity_gbq=plan.total_activity_gbq,
        tumour_to_normal_ratio=plan.tumour_to_normal_ratio,
        predicted_lung_dose_gy=plan.predicted_lung_dose_gy,
        predicted_perfused_dose_gy=plan.predicted_perfused_dose_gy,
        predicted_tumour_dose_gy=plan.predicted_tumour_dose_gy,
        predicted_normal_liver_dose_gy=plan.predicted_normal_liver_dose_gy,
        pretreated_liver=plan.pretreated_liver,
    )


def plan_assessment(
    plan: DosimetryPlan,
    workup: WorkupResult,
    prior_lung_doses_gy: Sequence[float],
    config: ClinicalConfig,
) -> PlanAssessment:
    """The plan recomputed from the work-up, counting lung dose from earlier treatments."""
    return assess_plan(
        workup_figures(workup), plan_figures(plan), prior_lung_doses_gy, config.dosimetry
    )


def delivery_assessment(
    treatment: TreatmentRecord,
    plan: DosimetryPlan,
    workup: WorkupResult,
    prior_lung_doses_gy: Sequence[float],
    config: ClinicalConfig,
) -> DeliveryAssessment:
    """Delivered lung dose from the delivered activity; limits again above the margin."""
    return assess_delivery(
        workup_figures(workup),
        plan_figures(plan),
        treatment.delivered_activity_gbq,
        prior_lung_doses_gy,
        config.dosimetry,
    )


def _lab_values(labs: Labs | None) -> dict[LabTest, float]:
    if labs is None:
        return {}
    values = {test: getattr(labs, name) for name, test in _GRADED_LABS.items()}
    return {test: value for test, value in values.items() if value is not None}


def _recist_measurement(v: FollowUpVisitRecord) -> FollowUpMeasurement:
    return FollowUpMeasurement(
        diameters_mm=v.target_lesions_mm,
        too_small=tuple(v.too_small_to_measure),
        new_lesions=v.new_lesions,
        new_lesion_mm=v.new_lesion_largest_mm,
        non_target=v.non_target_response,
    )


def _mrecist_measurement(v: FollowUpVisitRecord) -> FollowUpMeasurement:
    return FollowUpMeasurement(
        diameters_mm=v.viable_target_lesions_mm,
        new_lesions=v.new_lesions,
        new_lesion_mm=v.new_lesion_largest_mm,
        new_lesion_typical=v.new_lesion_typical_enhancement,
        non_target=v.mrecist_non_target_response,
    )


def _response_series(
    baseline: Sequence[TargetLesion],
    earlier: Sequence[FollowUpMeasurement],
    current: FollowUpMeasurement,
    criteria: ResponseCriteria,
    config: ClinicalConfig,
) -> dict[str, Any]:
    series = assess_series(baseline, [*earlier, current], criteria, config.recist)
    return series[-1].model_dump(mode="json")


def visit_results(
    d: FollowUpVisitRecord,
    *,
    treated_on: date,
    baseline_labs: Labs | None,
    workup: WorkupResult | None,
    earlier: Sequence[FollowUpVisitRecord],
    config: ClinicalConfig,
) -> dict[str, Any]:
    """Derived results of one visit: CTCAE grades, tumour response, QLQ-C30, PRS, REILD."""
    out: dict[str, Any] = {}
    values = _lab_values(d.labs)
    if values:
        anticoagulated = bool(d.labs and d.labs.on_anticoagulation)
        grades = grade_labs(values, _lab_values(baseline_labs), config.ctcae, anticoagulated)
        out["ctcae_grades"] = {test.value: grade for test, grade in grades.items()}
    if workup is not None and workup.baseline_target_lesions and d.target_lesions_mm:
        past = [_recist_measurement(v) for v in earlier if v.target_lesions_mm]
        out["recist"] = _response_series(
            workup.baseline_target_lesions,
            past,
            _recist_measurement(d),
            ResponseCriteria.RECIST_1_1,
            config,
        )
    if workup is not None and workup.baseline_viable_lesions and d.viable_target_lesions_mm:
        past = [_mrecist_measurement(v) for v in earlier if v.viable_target_lesions_mm]
        out["mrecist"] = _response_series(
            workup.baseline_viable_lesions,
            past,
            _mrecist_measurement(d),
            ResponseCriteria.MRECIST,
            config,
        )
    if d.qlq_c30:
        out["qlq_c30"] = score_qlq_c30(d.qlq_c30)
    if d.prs_symptoms is not None:
        out["prs"] = {
            "present": prs_present(d.prs_symptoms, config.liver_toxicity),
            "max_grade": prs_max_grade(d.prs_symptoms),
        }
    reild = reild_of(d.labs, d.visit_date, treated_on=treated_on, findings=d, config=config)
    if reild is not None:
        out["reild"] = reild
    return out


def reild_of(
    labs: Labs | None,
    on: date,
    *,
    treated_on: date,
    findings: FollowUpVisitRecord,
    config: ClinicalConfig,
) -> dict[str, Any] | None:
    """REILD from a panel's bilirubin and albumin taken ``on`` a day, with the ascites,
    progression and biliary findings of a visit; None without those values."""
    if labs is None or labs.bilirubin_umol_l is None or labs.albumin_g_l is None:
        return None
    if not findings.ascites:
        return None
    assessment = assess_reild(
        ReildInputs(
            days_since_sirt=(on - treated_on).days,
            bilirubin_umol_l=labs.bilirubin_umol_l,
            albumin_g_l=labs.albumin_g_l,
            ascites=AscitesStatus(findings.ascites),
            tumour_progression=findings.hepatic_progression_on is not None,
            biliary_obstruction=findings.biliary_obstruction,
        ),
        config.liver_toxicity,
    )
    result: dict[str, Any] = assessment.model_dump(mode="json")
    return result


def response_of(results: dict[str, Any]) -> Response | None:
    """The RECIST 1.1 category a visit's derived results hold, if any."""
    recist = results.get("recist")
    return Response(recist["response"]) if recist else None


def lab_grades(labs: Labs, baseline_labs: Labs | None, config: ClinicalConfig) -> dict[str, int]:
    """CTCAE grades of a panel of results (from a visit or another system), by test."""
    values = _lab_values(labs)
    if not values:
        return {}
    grades = grade_labs(values, _lab_values(baseline_labs), config.ctcae)
    return {test.value: grade for test, grade in grades.items()}


def external_reild(
    labs: Labs,
    collected_on: date,
    *,
    treated_on: date | None,
    last_visit: FollowUpVisitRecord | None,
    config: ClinicalConfig,
) -> dict[str, Any] | None:
    """REILD assessed from results another system sent, or None when it cannot be.

    A lab feed carries no ascites: it comes from the treatment's latest visit, and without
    one recording ascites there is nothing to assess (absence is never assumed).
    """
    if treated_on is None or last_visit is None or collected_on < treated_on:
        return None
    return reild_of(labs, collected_on, treated_on=treated_on, findings=last_visit, config=config)

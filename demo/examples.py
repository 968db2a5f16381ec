"""Realistic step payloads of one midgut NET patient's SIRT pathway.

One builder per step, each a JSON-shaped dict as the API takes it, with any field overridden:
the test stories (``tests/payloads.py``) and the throughput benchmark (``bench/throughput.py``)
send the same clinically coherent pathway. The dosimetry plan types the doses the pathway
itself derives from the work-up, as a physicist's software would, or it would be refused.
"""

from datetime import date
from typing import Any

from clinical.plan_check import PlanFigures, assess_plan
from models.steps import WorkupResult
from workflows.clinical_checks import workup_figures

# 943 476 5919 is a valid NHS number used in NHS Digital's examples.
PATIENT = {
    "nhs_number": "943 476 5919",
    "family_name": "Testpatient",
    "given_name": "Zebedee",
    "date_of_birth": "1958-03-14",
}


def referral(**overrides: Any) -> dict[str, Any]:
    """A complete referral of a midgut NET patient with carcinoid syndrome."""
    data: dict[str, Any] = {
        "patient": PATIENT,
        "primary_site": "midgut",
        "grade": 2,
        "ki67_pct": 8.0,
        "carcinoid_syndrome": True,
        "flushes_per_day": 6,
        "stools_per_day": 5,
        "prior_therapies": [{"kind": "ssa", "last_given_on": "2026-01-10"}],
        "baseline_cga_ug_l": 420.0,
        "baseline_5hiaa_umol_24h": 180.0,
        "referrer": "Dr A Referrer",
        "referring_trust": "Example NHS Foundation Trust",
    }
    data.update(overrides)
    return data


def mdt(today: date, decision: str = "proceed", **overrides: Any) -> dict[str, Any]:
    """The MDT's decision (by default to proceed to work-up)."""
    data: dict[str, Any] = {
        "meeting_date": today.isoformat(),
        "net_experienced_mdt": True,
        "attendees": ["NET oncologist", "IR", "hepatobiliary surgeon"],
        "ecog": 1,
        "child_pugh_score": 5,
        "extrahepatic_disease": "none",
        "tumour_burden_pct": 30,
        "labs": {"bilirubin_umol_l": 12, "albumin_g_l": 40, "platelets_10e9_l": 210, "inr": 1.0},
        "decision": decision,
    }
    data.update(overrides)
    return data


def booking(on: date) -> dict[str, Any]:
    """A work-up or treatment booked for ``on``."""
    return {"scheduled_on": on.isoformat()}


def workup(today: date, **overrides: Any) -> dict[str, Any]:
    """A bilobar work-up angiogram with a Tc-99m MAA scout and an 8% lung shunt."""
    data: dict[str, Any] = {
        "performed_on": today.isoformat(),
        "vessels_studied": ["coeliac", "SMA", "right hepatic", "left hepatic"],
        "coils_placed": ["gastroduodenal"],
        "injection_positions": ["right hepatic", "left hepatic"],
        "scout_agent": "tc99m_maa",
        "scout_activity_mbq": 150,
        "lung_shunt_fraction": 0.08,
        "lsf_method": "spect_ct",
        "extrahepatic_uptake": [],
        "whole_liver_volume_ml": 1800,
        "tumour_volume_ml": 450,
        "perfused_volume_ml": 1800,
    }
    data.update(overrides)
    return data


PLANNED_GBQ = 1.8  # the default plan's total activity


def lsf_for_lung_dose(lung_dose_gy: float) -> float:
    """The work-up lung shunt fraction that gives the default plan this lung dose (1 kg)."""
    return lung_dose_gy / (49.67 * PLANNED_GBQ)


def plan(
    today: date, from_workup: dict[str, Any] | None = None, **overrides: Any
) -> dict[str, Any]:
    """A partition plan whose typed doses are the ones ``from_workup`` (default: ``workup``)
    implies, as a physicist's software would give them; any field overridden."""
    data: dict[str, Any] = {
        "device": "resin_y90",
        "method": "partition",
        "tumour_to_normal_ratio": 3.0,
        "positions": [
            {"position": "right hepatic", "activity_gbq": 1.2},
            {"position": "left hepatic", "activity_gbq": 0.6},
        ],
        "physicist_signoff": {"physicist": "Medical Physicist", "signed_on": today.isoformat()},
    }
    data.update(overrides)
    recorded = WorkupResult.model_validate(from_workup or workup(today))
    checked = assess_plan(
        workup_figures(recorded),
        PlanFigures(
            device=data["device"],
            method=data["method"],
            activity_gbq=sum(p["activity_gbq"] for p in data["positions"]),
            tumour_to_normal_ratio=data.get("tumour_to_normal_ratio"),
        ),
    )
    doses = checked.doses
    assert doses is not None, checked.refusals
    typed = {
        "predicted_lung_dose_gy": doses.lung_gy,
        "predicted_perfused_dose_gy": doses.perfused_gy,
        "predicted_tumour_dose_gy": doses.tumour_gy,
        "predicted_normal_liver_dose_gy": doses.normal_liver_gy,
    }
    for name, dose in typed.items():
        if name not in overrides and dose is not None:
            data[name] = round(dose, 2)
    return data


def treatment(today: date, **overrides: Any) -> dict[str, Any]:
    """The planned activity delivered to both lobes, discharged the same day."""
    data: dict[str, Any] = {
        "performed_on": today.isoformat(),
        "positions": [
            {"position": "right hepatic", "administered_activity_gbq": 1.2, "residual_pct": 0},
            {"position": "left hepatic", "administered_activity_gbq": 0.6, "residual_pct": 0},
        ],
        "extent": "bilobar",
        "post_treatment_imaging": "y90_pet",
        "discharged_on": today.isoformat(),
    }
    data.update(overrides)
    return data


def visit(code: str, on: date, **overrides: Any) -> dict[str, Any]:
    """A follow-up visit attended on ``on``."""
    data: dict[str, Any] = {"visit_code": code, "visit_date": on.isoformat()}
    data.update(overrides)
    return data


def to_treatment(today: date) -> list[tuple[str, dict[str, Any]]]:
    """The seven steps from MDT review to treatment, all on ``today``: the MDT's decision,
    the work-up booked and re-booked, the work-up, the plan, the treatment booked and given."""
    return [
        ("mdt-decision", mdt(today)),
        ("schedule-workup", booking(today)),
        ("schedule-workup", booking(today)),
        ("workup", workup(today)),
        ("dosimetry-plan", plan(today)),
        ("schedule-treatment", booking(today)),
        ("treatment", treatment(today)),
    ]

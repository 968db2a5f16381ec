"""Realistic step payloads for the pathway stories the tests tell."""

from datetime import date

__all__ = ["date"]
import itertools
from typing import Any

from clinical.nhs_number import _check_digit
from clinical.plan_check import PlanFigures, assess_plan
from models.referral import Referral
from models.steps import WorkupResult
from workflows.clinical_checks import workup_figures

# 943 476 5919 is a valid NHS number used in NHS Digital's examples.
PATIENT = {
    "nhs_number": "943 476 5919",
    "family_name": "Testpatient",
    "given_name": "Zebedee",
    "date_of_birth": "1958-03-14",
}


_SERIAL = itertools.count(400_000_000)


def fresh_nhs_number() -> str:
    """A valid NHS number no earlier call returned: a second open pathway for one NHS number
    is refused, and the test database is shared by the whole run."""
    while True:
        nine = f"{next(_SERIAL):09d}"
        check = _check_digit(nine)
        if check is not None:
            return nine + str(check)


def referral(**overrides: Any) -> Referral:
    """A complete referral of a midgut NET patient (a fresh NHS number each time unless a
    patient is given), with any field overridden."""
    data: dict[str, Any] = {
        "patient": {**PATIENT, "nhs_number": fresh_nhs_number()},
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
    return Referral.model_validate(data)


def mdt(today: date, decision: str = "proceed", **overrides: Any) -> dict[str, Any]:
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


def workup(today: date, **overrides: Any) -> dict[str, Any]:
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
    data: dict[str, Any] = {"visit_code": code, "visit_date": on.isoformat()}
    data.update(overrides)
    return data

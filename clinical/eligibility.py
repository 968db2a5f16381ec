"""MDT eligibility checklist for SIRT (van Roekel thesis table 1; Kennedy review).

The rules only raise flags; the MDT decides. A value the MDT does not have yet (``None``) raises
no flag: ``missing_fields`` lists those so a "re-discuss with what is missing" decision can name
them. Criteria "for" SIRT that are not met are cautions; criteria "against" are contraindications.
A centre can regrade any flag through ``EligibilityLimits.severity_overrides``.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from pydantic import ConfigDict, Field

from clinical.config import DosimetryLimits, EligibilityLimits, Severity
from clinical.finite import Finite


class ExtrahepaticDisease(StrEnum):
    """Disease outside the liver: SIRT wants liver-only or liver-dominant disease."""

    NONE = "none"
    LIMITED = "limited"  # liver-dominant: still a candidate
    EXTENSIVE = "extensive"  # not liver-dominant


class EligibilityInputs(Finite):
    """What the MDT knows about the patient; every field may still be unknown (``None``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ecog: int | None = Field(default=None, ge=0, le=4)
    child_pugh_score: int | None = Field(default=None, ge=5, le=15)
    life_expectancy_months: float | None = Field(default=None, ge=0)
    suitable_for_surgery_or_ablation: bool | None = None
    extrahepatic_disease: ExtrahepaticDisease | None = None
    bilirubin_umol_l: float | None = Field(default=None, ge=0)
    platelets_10e9_l: float | None = Field(default=None, ge=0)
    leukocytes_10e9_l: float | None = Field(default=None, ge=0)
    inr: float | None = Field(default=None, gt=0)
    egfr_ml_min: float | None = Field(default=None, ge=0)
    tumour_burden_pct: float | None = Field(default=None, ge=0, le=100)
    weeks_since_systemic_therapy: float | None = Field(
        default=None, ge=0, description="None when no systemic therapy is recorded."
    )
    active_antiangiogenic: bool | None = None
    main_portal_vein_thrombosis: bool | None = None
    uncorrectable_gi_deposition: bool | None = Field(
        default=None, description="Known only after work-up angiography."
    )
    expected_lung_dose_gy: float | None = Field(
        default=None, ge=0, description="Known after work-up."
    )
    prior_lung_dose_gy: float = Field(
        default=0.0, ge=0, description="Sum over earlier SIRT treatments."
    )


class EligibilityFlag(Finite):
    """One checklist item that speaks against SIRT, with a reason naming value and limit."""

    model_config = ConfigDict(frozen=True)

    code: str
    severity: Severity
    field: str
    reason: str


@dataclass(frozen=True)
class _LimitRule:
    code: str
    field: str
    label: str
    unit: str
    direction: Literal["above", "below"]
    limit: Callable[[EligibilityLimits, DosimetryLimits], float]
    severity: Severity


@dataclass(frozen=True)
class _YesRule:
    code: str
    field: str
    reason: str
    severity: Severity


# One row per checklist item: the table, not branches, carries the clinical content.
_LIMIT_RULES: tuple[_LimitRule, ...] = (
    _LimitRule("ecog_high", "ecog", "ECOG", "", "above", lambda e, _: e.max_ecog, "caution"),
    _LimitRule(
        "child_pugh_high",
        "child_pugh_score",
        "Child-Pugh score",
        "",
        "above",
        lambda e, _: e.max_child_pugh_score,
        "caution",
    ),
    _LimitRule(
        "life_expectancy_short",
        "life_expectancy_months",
        "life expectancy",
        "months",
        "below",
        lambda e, _: e.min_life_expectancy_months,
        "caution",
    ),
    _LimitRule(
        "bilirubin_high",
        "bilirubin_umol_l",
        "bilirubin",
        "umol/L",
        "above",
        lambda e, _: e.max_bilirubin_umol_l,
        "contraindication",
    ),
    _LimitRule(
        "platelets_low",
        "platelets_10e9_l",
        "platelets",
        "x10^9/L",
        "below",
        lambda e, _: e.min_platelets_10e9_l,
        "contraindication",
    ),
    _LimitRule(
        "leukocytes_low",
        "leukocytes_10e9_l",
        "leukocytes",
        "x10^9/L",
        "below",
        lambda e, _: e.min_leukocytes_10e9_l,
        "contraindication",
    ),
    _LimitRule("inr_high", "inr", "INR", "", "above", lambda e, _: e.max_inr, "contraindication"),
    _LimitRule(
        "egfr_low",
        "egfr_ml_min",
        "eGFR",
        "mL/min",
        "below",
        lambda e, _: e.min_egfr_ml_min,
        "contraindication",
    ),
    _LimitRule(
        "tumour_burden_high",
        "tumour_burden_pct",
        "tumour burden",
        "% of liver",
        "above",
        lambda e, _: e.max_tumour_burden_pct,
        "contraindication",
    ),
    _LimitRule(
        "recent_systemic_therapy",
        "weeks_since_systemic_therapy",
        "time since systemic therapy",
        "weeks",
        "below",
        lambda e, _: e.min_weeks_since_systemic_therapy,
        "contraindication",
    ),
    _LimitRule(
        "lung_dose_high",
        "expected_lung_dose_gy",
        "expected lung dose",
        "Gy",
        "above",
        lambda _, d: d.max_lung_dose_single_gy,
        "contraindication",
    ),
)

_YES_RULES: tuple[_YesRule, ...] = (
    _YesRule(
        "suitable_for_surgery_or_ablation",
        "suitable_for_surgery_or_ablation",
        "suitable for surgery or ablation, which come before SIRT",
        "caution",
    ),
    _YesRule(
        "active_antiangiogenic",
        "active_antiangiogenic",
        "taking an antiangiogenic drug",
        "contraindication",
    ),
    _YesRule(
        "main_portal_vein_thrombosis",
        "main_portal_vein_thrombosis",
        "main portal vein thrombosis",
        "contraindication",
    ),
    _YesRule(
        "gi_deposition_uncorrectable",
        "uncorrectable_gi_deposition",
        "gastrointestinal deposition that cannot be corrected",
        "contraindication",
    ),
)

_DEFAULT_LIMITS = EligibilityLimits()
_DEFAULT_DOSIMETRY = DosimetryLimits()
_INTEGER_FIELDS = frozenset({"ecog", "child_pugh_score"})


def _fmt(value: float, integer: bool) -> str:
    """Integers bare; other values to one decimal unless that would hide precision."""
    if integer:
        return str(int(value))
    return f"{value:.1f}" if round(value, 1) == value else f"{value:g}"


def _with_unit(text: str, unit: str) -> str:
    return f"{text} {unit}" if unit else text


def assess_eligibility(
    inputs: EligibilityInputs,
    limits: EligibilityLimits = _DEFAULT_LIMITS,
    dosimetry: DosimetryLimits = _DEFAULT_DOSIMETRY,
) -> list[EligibilityFlag]:
    """Return the checklist flags raised by ``inputs``, in checklist order (empty when none)."""
    flags: list[EligibilityFlag] = []

    def add(code: str, field: str, severity: Severity, reason: str) -> None:
        severity = limits.severity_overrides.get(code, severity)
        flags.append(EligibilityFlag(code=code, severity=severity, field=field, reason=reason))

    for rule in _LIMIT_RULES:
        value = getattr(inputs, rule.field)
        if value is None:
            continue
        limit = rule.limit(limits, dosimetry)
        breached = value > limit if rule.direction == "above" else value < limit
        if breached:
            integer = rule.field in _INTEGER_FIELDS
            shown = _with_unit(_fmt(value, integer), rule.unit)
            bound = _with_unit(_fmt(limit, integer), rule.unit)
            add(
                rule.code,
                rule.field,
                rule.severity,
                f"{rule.label} {shown} is {rule.direction} the limit of {bound}",
            )

    for yes_rule in _YES_RULES:
        if getattr(inputs, yes_rule.field) is True:
            add(yes_rule.code, yes_rule.field, yes_rule.severity, yes_rule.reason)

    if inputs.extrahepatic_disease is ExtrahepaticDisease.EXTENSIVE:
        add(
            "extrahepatic_disease_extensive",
            "extrahepatic_disease",
            "caution",
            "extensive extrahepatic disease: the liver is not the dominant site",
        )

    if inputs.prior_lung_dose_gy > 0:
        # Repeat SIRT: the lung has already had its share of the cumulative allowance.
        limit = dosimetry.max_lung_dose_cumulative_gy
        left = limit - inputs.prior_lung_dose_gy
        if left <= 0:
            add(
                "cumulative_lung_dose_reached",
                "prior_lung_dose_gy",
                "contraindication",
                f"recorded cumulative lung dose {inputs.prior_lung_dose_gy:.1f} Gy has reached "
                f"the limit of {limit:.1f} Gy: no lung dose is left for a repeat SIRT",
            )
        else:
            add(
                "repeat_sirt_lung_dose",
                "prior_lung_dose_gy",
                "caution",
                f"repeat SIRT: recorded cumulative lung dose {inputs.prior_lung_dose_gy:.1f} Gy "
                f"leaves {left:.1f} Gy of the {limit:.1f} Gy cumulative limit",
            )
    if inputs.expected_lung_dose_gy is not None:
        cumulative = inputs.prior_lung_dose_gy + inputs.expected_lung_dose_gy
        if cumulative > dosimetry.max_lung_dose_cumulative_gy:
            add(
                "cumulative_lung_dose_high",
                "expected_lung_dose_gy",
                "contraindication",
                f"cumulative lung dose {cumulative:.1f} Gy is above the limit of "
                f"{dosimetry.max_lung_dose_cumulative_gy:.1f} Gy",
            )
    return flags


def hard_contraindications(flags: Sequence[EligibilityFlag]) -> list[EligibilityFlag]:
    """The flags whose severity is ``contraindication``."""
    return [flag for flag in flags if flag.severity == "contraindication"]


# Fields the checklist needs before an MDT can fully assess; the work-up ones come later.
_MDT_FIELDS: tuple[str, ...] = (
    "ecog",
    "child_pugh_score",
    "life_expectancy_months",
    "suitable_for_surgery_or_ablation",
    "extrahepatic_disease",
    "bilirubin_umol_l",
    "platelets_10e9_l",
    "leukocytes_10e9_l",
    "inr",
    "egfr_ml_min",
    "tumour_burden_pct",
    "active_antiangiogenic",
    "main_portal_vein_thrombosis",
)


def missing_fields(inputs: EligibilityInputs) -> list[str]:
    """Names of MDT-stage checklist fields that are still unknown.

    ``weeks_since_systemic_therapy`` (None means none given) and the work-up fields
    (GI deposition, lung dose) are not counted as missing at MDT.
    """
    return [name for name in _MDT_FIELDS if getattr(inputs, name) is None]

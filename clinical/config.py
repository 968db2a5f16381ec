"""Every clinical threshold the rules use, as frozen pydantic models with documented defaults.

Defaults come from /work/shared/DOMAIN.md (van Roekel table 1, EANM 2022, CTCAE v5, RECIST 1.1,
NHS cancer waiting times v12.1). A centre overrides them by building its own ``ClinicalConfig``
and passing it in the workflow input, so a config change never alters a replayed history.
Lab reference ranges are local to each laboratory: the defaults are typical UK adult ranges
[practice] and must be replaced by the centre's own.
"""

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from clinical.enums import ClockKind, Device, LabTest, Nuclide
from clinical.finite import Finite

Severity = Literal["contraindication", "caution"]


class _Frozen(Finite):
    """Immutable, strict-about-extras base so a typo in a centre's config fails loudly."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class EligibilityLimits(_Frozen):
    """MDT checklist thresholds (van Roekel thesis table 1; Kennedy review)."""

    max_ecog: int = Field(default=2, description="ECOG above this is a caution (For: ECOG <= 2).")
    max_child_pugh_score: int = Field(
        default=7, description="Child-Pugh score above B7 is a caution."
    )
    min_life_expectancy_months: float = Field(default=3.0, description="Shorter is a caution.")
    max_bilirubin_umol_l: float = Field(
        default=34.2, description="Above is a contraindication (2 mg/dL)."
    )
    min_platelets_10e9_l: float = Field(default=50.0, description="Below is a contraindication.")
    min_leukocytes_10e9_l: float = Field(default=2.0, description="Below is a contraindication.")
    max_inr: float = Field(default=1.5, description="Above is a contraindication.")
    min_egfr_ml_min: float = Field(default=35.0, description="Below is a contraindication.")
    min_weeks_since_systemic_therapy: float = Field(
        default=4.0, description="Sooner is a contraindication."
    )
    max_tumour_burden_pct: float = Field(default=70.0, description="Above is a contraindication.")
    severity_overrides: Mapping[str, Severity] = Field(
        default_factory=dict,
        description="Flag code -> severity, for a centre that grades a rule differently.",
    )


class LsfBand(_Frozen):
    """Resin activity reduction for lung shunt fractions from ``from_lsf`` (inclusive) up to
    the next band's ``from_lsf`` (exclusive)."""

    from_lsf: float = Field(ge=0.0, le=1.0, description="Lower bound, inclusive, as a fraction.")
    activity_reduction: float = Field(ge=0.0, lt=1.0, description="Fraction of activity removed.")


def _default_lsf_bands() -> tuple[LsfBand, ...]:
    # SIR-Spheres instructions for use: full activity below 10%; from 10% reduce by 20%; from
    # 15% reduce by 40%; above 20% do not treat (``max_treatable_lsf``).
    return (
        LsfBand(from_lsf=0.0, activity_reduction=0.0),
        LsfBand(from_lsf=0.10, activity_reduction=0.20),
        LsfBand(from_lsf=0.15, activity_reduction=0.40),
    )


class DosimetryLimits(_Frozen):
    """Dose constants, limits and half-lives (EANM 2022 dosimetry guideline, manufacturers)."""

    y90_dose_constant_gy_kg_per_gbq: float = Field(
        default=49.67, gt=0, description="MIRD constant for Y-90; manufacturers round it to 50."
    )
    ho166_dose_constant_gy_kg_per_gbq: float = Field(default=15.87, gt=0)
    ho166_standard_activity_gbq_per_kg: float = Field(
        default=3.78, gt=0, description="Gives about 60 Gy to the whole liver."
    )
    default_lung_mass_kg: float = Field(default=1.0, gt=0)
    tissue_density_g_per_ml: float = Field(
        default=1.03, gt=0, description="Liver and tumour density for CT volume -> mass [practice]."
    )
    bsa_offset_m2: float = Field(default=0.2, description="The '- 0.2' of the resin BSA formula.")
    lsf_bands: tuple[LsfBand, ...] = Field(
        default_factory=_default_lsf_bands,
        description="Resin BSA-method reductions by lung shunt band (SIR-Spheres IFU).",
    )
    max_treatable_lsf: float = Field(
        default=0.20,
        ge=0.0,
        le=1.0,
        description="Resin: an LSF above this (inclusive limit) is not treated (SIR-Spheres IFU).",
    )
    lung_density_g_per_ml: float = Field(
        default=0.3,
        gt=0,
        description="Lung density for a CT lung volume -> lung mass (aerated lung) [practice].",
    )
    typed_dose_tolerance_pct: float = Field(
        default=5.0,
        ge=0,
        description="A typed predicted dose may differ from the computed one by this much...",
    )
    typed_dose_tolerance_gy: float = Field(
        default=1.0, ge=0, description="...or by this many Gy, whichever is larger (rounding)."
    )
    delivered_activity_margin_pct: float = Field(
        default=10.0,
        ge=0,
        description="Delivered activity above the plan by more than this re-runs the limits.",
    )
    single_compartment_limit_gy: Mapping[Device, float] = Field(
        default_factory=lambda: {
            Device.RESIN_Y90: 40.0,
            Device.GLASS_Y90: 150.0,
            Device.HO166: 60.0,
        },
        description="Perfused-volume dose limit when no tumour-to-normal ratio is recorded: "
        "resin as its normal-liver limit (uniform uptake); glass the top of the TheraSphere "
        "IFU's 80-150 Gy; Ho-166 the 60 Gy whole-liver limit (EANM 2022).",
    )
    max_lung_dose_single_gy: float = Field(default=30.0, gt=0)
    max_lung_dose_cumulative_gy: float = Field(default=50.0, gt=0)
    normal_liver_limit_gy: Mapping[Device, float] = Field(
        default_factory=lambda: {Device.RESIN_Y90: 40.0, Device.GLASS_Y90: 75.0, Device.HO166: 60.0}
    )
    pretreated_normal_liver_limit_gy: Mapping[Device, float] = Field(
        default_factory=lambda: {Device.RESIN_Y90: 30.0},
        description="Stricter limit when the liver was pretreated (e.g. chemotherapy).",
    )
    tumour_dose_target_gy: Mapping[Device, float] = Field(
        default_factory=lambda: {Device.RESIN_Y90: 100.0, Device.GLASS_Y90: 205.0},
        description="Minimum tumour dose aimed for (HCC/mCRC derived; none NET-specific).",
    )
    half_life_hours: Mapping[Nuclide, float] = Field(
        default_factory=lambda: {Nuclide.Y90: 64.2, Nuclide.HO166: 26.8, Nuclide.TC99M: 6.0}
    )

    @model_validator(mode="before")
    @classmethod
    def _legacy_bands(cls, data: Any) -> Any:
        """Configs recorded in workflow histories before the IFU bands name upper bounds
        (``max_lsf``); read them as the same table with lower bounds, so they still replay."""
        bands = data.get("lsf_bands") if isinstance(data, dict) else None
        if not bands or not all(isinstance(b, dict) and "max_lsf" in b for b in bands):
            return data
        uppers = [b["max_lsf"] for b in bands]
        converted = [
            {"from_lsf": lower, "activity_reduction": b["activity_reduction"]}
            for lower, b in zip([0.0, *uppers[:-1]], bands, strict=True)
        ]
        return {**data, "lsf_bands": converted, "max_treatable_lsf": uppers[-1]}

    @model_validator(mode="after")
    def _complete(self) -> "DosimetryLimits":
        lowers = [band.from_lsf for band in self.lsf_bands]
        if not lowers or lowers[0] != 0.0 or lowers != sorted(set(lowers)):
            raise ValueError("lsf_bands must start at 0 and ascend strictly by from_lsf")
        # A partial table would fail only when that device is planned: fail at load instead.
        missing = [d.value for d in Device if d not in self.normal_liver_limit_gy]
        missing += [d.value for d in Device if d not in self.single_compartment_limit_gy]
        missing += [n.value for n in Nuclide if n not in self.half_life_hours]
        if missing:
            raise ValueError(f"no normal-liver limit or half-life for: {', '.join(missing)}")
        return self


class ReferenceRange(_Frozen):
    """A laboratory's normal range for one test."""

    lower: float = Field(ge=0)
    upper: float = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> "ReferenceRange":
        if self.upper <= self.lower:
            raise ValueError("reference range upper limit must be above the lower limit")
        return self


class HighValueGrading(_Frozen):
    """CTCAE grades for tests graded by how far they rise above the ULN (or baseline)."""

    grade_multiples: tuple[float, ...] = Field(
        description="Exclusive lower bounds of grades 1, 2, 3, 4 as multiples of the reference."
    )
    abnormal_baseline_g1_multiple: float = Field(
        description="CTCAE v5 grade 1 starts at this multiple of an abnormal baseline."
    )
    baseline_when: Literal["abnormal", "anticoagulated"] = Field(
        default="abnormal",
        description="Grade against the baseline when it was above the ULN (most tests), or "
        "when the patient is anticoagulated (INR, CTCAE v5).",
    )
    baseline_multiples: tuple[float, ...] | None = Field(
        default=None,
        description="Grade bounds as multiples of the baseline, when they differ from the ULN "
        "ones beyond grade 1 (INR: 1.0, 1.5, 2.5); None: grade 1 bound, then grade_multiples.",
    )


class LowValueGrading(_Frozen):
    """CTCAE grades for tests graded by how far they fall: grade 1 is below the LLN."""

    grade_below: tuple[float, ...] = Field(
        description="Absolute exclusive upper bounds of grades 2, 3 (, 4), in the test's unit."
    )


def _default_ranges() -> dict[LabTest, ReferenceRange]:
    return {
        LabTest.BILIRUBIN: ReferenceRange(lower=0.0, upper=21.0),
        LabTest.ALT: ReferenceRange(lower=0.0, upper=40.0),
        LabTest.AST: ReferenceRange(lower=0.0, upper=40.0),
        LabTest.ALP: ReferenceRange(lower=30.0, upper=130.0),
        LabTest.ALBUMIN: ReferenceRange(lower=35.0, upper=50.0),
        LabTest.PLATELETS: ReferenceRange(lower=150.0, upper=400.0),
        LabTest.GGT: ReferenceRange(lower=0.0, upper=55.0),
        LabTest.INR: ReferenceRange(lower=0.8, upper=1.0),
    }


def _default_high_grading() -> dict[LabTest, HighValueGrading]:
    return {
        LabTest.BILIRUBIN: HighValueGrading(
            grade_multiples=(1.0, 1.5, 3.0, 10.0), abnormal_baseline_g1_multiple=1.0
        ),
        LabTest.ALT: HighValueGrading(
            grade_multiples=(1.0, 3.0, 5.0, 20.0), abnormal_baseline_g1_multiple=1.5
        ),
        LabTest.AST: HighValueGrading(
            grade_multiples=(1.0, 3.0, 5.0, 20.0), abnormal_baseline_g1_multiple=1.5
        ),
        LabTest.ALP: HighValueGrading(
            grade_multiples=(1.0, 2.5, 5.0, 20.0), abnormal_baseline_g1_multiple=2.0
        ),
        # CTCAE v5 "GGT increased": >ULN-2.5x ULN if baseline normal; 2.0-2.5x baseline if
        # abnormal; >2.5-5.0; >5.0-20.0; >20.0.
        LabTest.GGT: HighValueGrading(
            grade_multiples=(1.0, 2.5, 5.0, 20.0), abnormal_baseline_g1_multiple=2.0
        ),
        # CTCAE v5 "INR increased": >1.2-1.5x ULN (>1-1.5x baseline if on anticoagulation);
        # >1.5-2.5x; >2.5x. There is no grade 4.
        LabTest.INR: HighValueGrading(
            grade_multiples=(1.2, 1.5, 2.5),
            abnormal_baseline_g1_multiple=1.0,
            baseline_when="anticoagulated",
            baseline_multiples=(1.0, 1.5, 2.5),
        ),
    }


def _default_low_grading() -> dict[LabTest, LowValueGrading]:
    return {
        LabTest.ALBUMIN: LowValueGrading(grade_below=(30.0, 20.0)),  # g/L: 3 and 2 g/dL
        LabTest.PLATELETS: LowValueGrading(grade_below=(75.0, 50.0, 25.0)),
    }


_LATER = (LabTest.GGT, LabTest.INR)


class CtcaeConfig(_Frozen):
    """CTCAE v5 grade boundaries and the local reference ranges they are anchored on."""

    reference_ranges: Mapping[LabTest, ReferenceRange] = Field(default_factory=_default_ranges)
    high_grading: Mapping[LabTest, HighValueGrading] = Field(default_factory=_default_high_grading)
    low_grading: Mapping[LabTest, LowValueGrading] = Field(default_factory=_default_low_grading)

    @model_validator(mode="before")
    @classmethod
    def _tests_added_later(cls, data: Any) -> Any:
        """Configs recorded in workflow histories before GGT and INR were graded lack them;
        they get the defaults, so those histories replay. Other gaps still fail loudly."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for key, defaults in (
            ("reference_ranges", _default_ranges()),
            ("high_grading", _default_high_grading()),
        ):
            table = data.get(key)
            if isinstance(table, dict):
                added = {t: defaults[t] for t in _LATER if t not in table and t.value not in table}
                data[key] = {**table, **added}
        return data

    @model_validator(mode="after")
    def _complete(self) -> "CtcaeConfig":
        graded = set(self.high_grading) | set(self.low_grading)
        missing = [t.value for t in LabTest if t not in graded or t not in self.reference_ranges]
        if missing:
            raise ValueError(f"no reference range or grading for: {', '.join(missing)}")
        return self


class RecistConfig(_Frozen):
    """RECIST 1.1 (and mRECIST) target-lesion rules and response thresholds."""

    max_target_lesions: int = 5
    max_target_lesions_per_organ: int = 2
    min_target_lesion_mm: float = 10.0
    partial_response_decrease_pct: float = 30.0
    progression_increase_pct: float = 20.0
    progression_min_increase_mm: float = 5.0
    min_nodal_target_short_axis_mm: float = Field(
        default=15.0, description="RECIST 1.1: a lymph node is a target at >= 15 mm short axis."
    )
    nodal_normal_below_mm: float = Field(
        default=10.0, description="RECIST 1.1: a node under 10 mm short axis is normal (CR)."
    )
    too_small_to_measure_mm: float = Field(
        default=5.0, description="RECIST 1.1: a lesion present but too small to measure counts 5."
    )
    mrecist_progression_min_increase_mm: float = Field(
        default=0.0, description="mRECIST (Lencioni 2010) has no absolute floor for PD."
    )
    mrecist_new_lesion_min_mm: float = Field(
        default=10.0,
        description="mRECIST: a new lesion is PD at >= 10 mm with a typical vascular pattern.",
    )


class LiverToxicityConfig(_Frozen):
    """REILD and PRS criteria."""

    reild_window_start_days: int = Field(default=14, description="2 weeks after SIRT.")
    reild_window_end_days: int = Field(default=122, description="About 4 months after SIRT.")
    reild_bilirubin_above_umol_l: float = Field(default=21.0, description="Raised: above the ULN.")
    reild_albumin_below_g_l: float = Field(default=35.0, description="Low: below the LLN.")
    prs_min_symptoms: int = Field(
        default=1, ge=1, description="Symptoms needed to call PRS present."
    )
    prs_min_grade: int = Field(
        default=1, ge=1, le=5, description="CTCAE grade counted as a symptom."
    )


class ClockConfig(_Frozen):
    """NHS cancer waiting-time targets and the 62-day PTL grouping (CWT guidance v12.1)."""

    target_days: Mapping[ClockKind, int] = Field(
        default_factory=lambda: {ClockKind.DAYS_31: 31, ClockKind.DAYS_62: 62}
    )
    ptl_bucket_upper_days: tuple[int, ...] = Field(
        default=(28, 62, 104), description="Inclusive upper bounds; the last bucket is open-ended."
    )

    @model_validator(mode="after")
    def _complete(self) -> "ClockConfig":
        missing = [k.value for k in ClockKind if k not in self.target_days]
        if missing:
            raise ValueError(f"no target days for: {', '.join(missing)}")
        if not self.ptl_bucket_upper_days or list(self.ptl_bucket_upper_days) != sorted(
            set(self.ptl_bucket_upper_days)
        ):
            raise ValueError("ptl_bucket_upper_days must be non-empty and strictly ascending")
        return self


class ClinicalConfig(_Frozen):
    """All clinical configuration of one centre."""

    eligibility: EligibilityLimits = Field(default_factory=EligibilityLimits)
    dosimetry: DosimetryLimits = Field(default_factory=DosimetryLimits)
    ctcae: CtcaeConfig = Field(default_factory=CtcaeConfig)
    recist: RecistConfig = Field(default_factory=RecistConfig)
    liver_toxicity: LiverToxicityConfig = Field(default_factory=LiverToxicityConfig)
    clocks: ClockConfig = Field(default_factory=ClockConfig)


DEFAULT_CONFIG = ClinicalConfig()

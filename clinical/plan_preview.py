"""A physicist's preview of a dosimetry plan: activity and doses by each method, checked by
the very function the pathway's dosimetry Update uses (``clinical.plan_check.assess_plan``), so
a preview says "would be refused" in the Update's own words.

Masses may be given directly (kg) or as CT volumes (mL, converted with the configured tissue
density); the preview says which it used.
"""

from pydantic import ConfigDict, Field, model_validator

from clinical.config import DosimetryLimits
from clinical.dosimetry import (
    SafetyViolation,
    activity_for_tumour_dose_gbq,
    bsa_du_bois_m2,
    ho166_standard_activity_gbq,
    mass_kg_from_volume_ml,
    mird_activity_for_dose_gbq,
    resin_bsa_activity,
)
from clinical.enums import Device, DosimetryMethod
from clinical.errors import ClinicalRuleError
from clinical.finite import Finite
from clinical.plan_check import PlanFigures, WorkupFigures, assess_plan, refusal_message
from clinical.plausibility import PlausibleNumbers

_DEFAULT = DosimetryLimits()


class PreviewInputs(PlausibleNumbers):
    """What the physicist knows after work-up. Activity or a target dose drives the plan."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    device: Device
    lung_shunt_fraction: float = Field(ge=0, le=1)
    perfused_mass_kg: float | None = Field(default=None, gt=0)
    tumour_mass_kg: float | None = Field(default=None, ge=0)
    liver_mass_kg: float | None = Field(default=None, gt=0)
    tumour_to_normal_ratio: float | None = Field(default=None, gt=0)
    activity_gbq: float | None = Field(default=None, gt=0)
    target_dose_gy: float | None = Field(
        default=None, gt=0, description="Perfused-volume dose (MIRD) or tumour dose (partition)."
    )
    height_cm: float | None = Field(default=None, gt=0)
    weight_kg: float | None = Field(default=None, gt=0)
    lung_mass_kg: float | None = Field(default=None, gt=0)
    prior_lung_doses_gy: tuple[float, ...] = ()
    pretreated_liver: bool = False
    method: DosimetryMethod | None = Field(
        default=None, description="Preview only this method (the plan's), as the Update would."
    )
    predicted_lung_dose_gy: float | None = Field(default=None, ge=0)
    predicted_perfused_dose_gy: float | None = Field(default=None, ge=0)
    predicted_tumour_dose_gy: float | None = Field(default=None, ge=0)
    predicted_normal_liver_dose_gy: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _perfused_mass(self) -> "PreviewInputs":
        if self.perfused_mass_kg is None and self.liver_mass_kg is None:
            raise ValueError("perfused_mass_kg: give the perfused or the whole-liver mass")
        return self

    @property
    def treated_mass_kg(self) -> float:
        """The perfused mass, or the whole liver when the whole liver is treated."""
        mass = self.perfused_mass_kg or self.liver_mass_kg
        assert mass is not None
        return mass

    def workup_figures(self, limits: DosimetryLimits = _DEFAULT) -> WorkupFigures:
        """The inputs as the work-up records them (volumes in mL)."""
        per_kg = 1000.0 / limits.tissue_density_g_per_ml
        liver = self.liver_mass_kg or self.treated_mass_kg
        return WorkupFigures(
            lung_shunt_fraction=self.lung_shunt_fraction,
            whole_liver_volume_ml=liver * per_kg,
            tumour_volume_ml=(self.tumour_mass_kg or 0.0) * per_kg,
            perfused_volume_ml=self.treated_mass_kg * per_kg,
            lung_mass_kg=self.lung_mass_kg,
        )


class MethodPreview(Finite):
    """One method's activity and doses (None when the inputs are inconsistent), and every
    refusal the Update would give, with its one-line message."""

    method: DosimetryMethod | str
    activity_gbq: float
    perfused_dose_gy: float | None = None
    tumour_dose_gy: float | None = None
    normal_liver_dose_gy: float | None = None
    lung_dose_gy: float | None = None
    cumulative_lung_dose_gy: float | None = None
    violations: list[SafetyViolation] = Field(default_factory=list)
    refusal: str | None = Field(default=None, description="The Update's refusal, word for word.")
    note: str | None = None


def volume_to_mass_kg(volume_ml: float | None, limits: DosimetryLimits = _DEFAULT) -> float | None:
    """CT volume to mass with the configured tissue density (None stays None)."""
    return None if volume_ml is None else mass_kg_from_volume_ml(volume_ml, limits)


def _finish(
    inputs: PreviewInputs,
    method: DosimetryMethod | str,
    activity: float,
    limits: DosimetryLimits,
    note: str | None = None,
) -> MethodPreview:
    plan = PlanFigures(
        device=inputs.device,
        method=method if isinstance(method, DosimetryMethod) else DosimetryMethod.MIRD,
        activity_gbq=activity,
        tumour_to_normal_ratio=inputs.tumour_to_normal_ratio,
        predicted_lung_dose_gy=inputs.predicted_lung_dose_gy,
        predicted_perfused_dose_gy=inputs.predicted_perfused_dose_gy,
        predicted_tumour_dose_gy=inputs.predicted_tumour_dose_gy,
        predicted_normal_liver_dose_gy=inputs.predicted_normal_liver_dose_gy,
        pretreated_liver=inputs.pretreated_liver,
    )
    checked = assess_plan(inputs.workup_figures(limits), plan, inputs.prior_lung_doses_gy, limits)
    doses = checked.doses
    return MethodPreview(
        method=method,
        activity_gbq=activity,
        perfused_dose_gy=doses.perfused_gy if doses else None,
        tumour_dose_gy=doses.tumour_gy if doses else None,
        normal_liver_dose_gy=doses.normal_liver_gy if doses else None,
        lung_dose_gy=doses.lung_gy if doses else None,
        cumulative_lung_dose_gy=doses.cumulative_lung_gy if doses else None,
        violations=checked.refusals,
        refusal=refusal_message(checked.refusals) if checked.refusals else None,
        note=note,
    )


def _mird(inputs: PreviewInputs, limits: DosimetryLimits) -> MethodPreview | None:
    mass, lsf = inputs.treated_mass_kg, inputs.lung_shunt_fraction
    if inputs.activity_gbq is not None:
        activity = inputs.activity_gbq
    elif inputs.target_dose_gy is not None:
        activity = mird_activity_for_dose_gbq(
            inputs.target_dose_gy, mass, lsf, inputs.device, limits
        )
    else:
        return None
    return _finish(inputs, DosimetryMethod.MIRD, activity, limits)


def _partition(inputs: PreviewInputs, limits: DosimetryLimits) -> MethodPreview | None:
    tnr, tumour = inputs.tumour_to_normal_ratio, inputs.tumour_mass_kg
    if inputs.activity_gbq is not None and (tnr is not None or inputs.method):
        return _finish(inputs, DosimetryMethod.PARTITION, inputs.activity_gbq, limits)
    if tnr is None or not tumour or inputs.target_dose_gy is None:
        return None
    normal = inputs.treated_mass_kg - tumour
    if normal <= 0:
        raise ClinicalRuleError("tumour_mass_kg: not less than the perfused mass")
    activity = activity_for_tumour_dose_gbq(
        inputs.target_dose_gy,
        tnr,
        tumour,
        normal,
        inputs.lung_shunt_fraction,
        inputs.device,
        limits,
    )
    return _finish(inputs, DosimetryMethod.PARTITION, activity, limits)


def _bsa(inputs: PreviewInputs, limits: DosimetryLimits) -> MethodPreview | None:
    if inputs.method is DosimetryMethod.BSA and inputs.activity_gbq is not None:
        # The plan's own activity, checked as the Update would (device agreement included).
        return _finish(inputs, DosimetryMethod.BSA, inputs.activity_gbq, limits)
    if inputs.device != Device.RESIN_Y90 or inputs.height_cm is None or inputs.weight_kg is None:
        return None
    if inputs.liver_mass_kg is None or inputs.tumour_mass_kg is None:
        return None
    # The BSA formula takes volumes; masses share the density, so the ratios are the same.
    plan = resin_bsa_activity(
        bsa_du_bois_m2(inputs.height_cm, inputs.weight_kg),
        inputs.tumour_mass_kg,
        inputs.liver_mass_kg,
        inputs.perfused_mass_kg,
        inputs.lung_shunt_fraction,
        limits,
    )
    note = f"BSA {plan.bsa_m2:.2f} m2, lung-shunt reduction {plan.lsf_reduction:.0%}"
    return _finish(inputs, DosimetryMethod.BSA, plan.activity_gbq, limits, note=note)


def _ho166_standard(inputs: PreviewInputs, limits: DosimetryLimits) -> MethodPreview | None:
    if inputs.device != Device.HO166 or inputs.activity_gbq is not None:
        return None
    activity = ho166_standard_activity_gbq(inputs.treated_mass_kg, limits)
    return _finish(inputs, "ho166_standard", activity, limits, note="3.78 GBq per kg standard")


def _voxel(inputs: PreviewInputs, limits: DosimetryLimits) -> MethodPreview | None:
    # Voxel plans come from other software: only their activity can be checked here.
    if inputs.activity_gbq is None:
        return None
    return _finish(inputs, DosimetryMethod.VOXEL, inputs.activity_gbq, limits)


_METHODS = (_mird, _partition, _bsa, _ho166_standard)
_ONE_METHOD = {
    DosimetryMethod.MIRD: _mird,
    DosimetryMethod.PARTITION: _partition,
    DosimetryMethod.BSA: _bsa,
    DosimetryMethod.VOXEL: _voxel,
}


def preview(inputs: PreviewInputs, limits: DosimetryLimits = _DEFAULT) -> list[MethodPreview]:
    """Every method the inputs allow (only the plan's, when ``method`` is given), in a fixed
    order; an empty list means too little input."""
    methods = (_ONE_METHOD[inputs.method],) if inputs.method else _METHODS
    results = [method(inputs, limits) for method in methods]
    return [r for r in results if r is not None]

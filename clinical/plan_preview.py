"""A physicist's preview of a dosimetry plan: activity and doses by each method, with the
same dose-limit checks the pathway's dosimetry Update applies.

Masses may be given directly (kg) or as CT volumes (mL, converted with the configured tissue
density); the preview says which it used.
"""

from pydantic import BaseModel, ConfigDict, Field, model_validator

from clinical.config import DosimetryLimits
from clinical.dosimetry import (
    PlanSafetyInputs,
    SafetyViolation,
    activity_for_tumour_dose_gbq,
    bsa_du_bois_m2,
    check_plan_safety,
    cumulative_lung_dose_gy,
    ho166_standard_activity_gbq,
    lung_dose_gy,
    mass_kg_from_volume_ml,
    mird_activity_for_dose_gbq,
    mird_dose_gy,
    partition_doses,
    resin_bsa_activity,
)
from clinical.enums import Device, DosimetryMethod
from clinical.errors import ClinicalRuleError

_DEFAULT = DosimetryLimits()


class PreviewInputs(BaseModel):
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


class MethodPreview(BaseModel):
    """One method's activity and doses, and any limit the plan would break."""

    method: DosimetryMethod | str
    activity_gbq: float
    perfused_dose_gy: float
    tumour_dose_gy: float | None = None
    normal_liver_dose_gy: float | None = None
    lung_dose_gy: float
    cumulative_lung_dose_gy: float
    violations: list[SafetyViolation] = Field(default_factory=list)
    note: str | None = None


def volume_to_mass_kg(volume_ml: float | None, limits: DosimetryLimits = _DEFAULT) -> float | None:
    """CT volume to mass with the configured tissue density (None stays None)."""
    return None if volume_ml is None else mass_kg_from_volume_ml(volume_ml, limits)


def _finish(
    inputs: PreviewInputs,
    method: DosimetryMethod | str,
    activity: float,
    limits: DosimetryLimits,
    tumour: float | None = None,
    normal: float | None = None,
    note: str | None = None,
) -> MethodPreview:
    lsf = inputs.lung_shunt_fraction
    lung = lung_dose_gy(activity, lsf, inputs.lung_mass_kg, inputs.device, limits)
    perfused = mird_dose_gy(activity, inputs.treated_mass_kg, lsf, inputs.device, limits)
    safety = PlanSafetyInputs(
        device=inputs.device,
        method=method if isinstance(method, DosimetryMethod) else DosimetryMethod.MIRD,
        predicted_lung_dose_gy=lung,
        predicted_normal_liver_dose_gy=normal if normal is not None else perfused,
        lung_shunt_fraction=lsf,
        pretreated_liver=inputs.pretreated_liver,
    )
    return MethodPreview(
        method=method,
        activity_gbq=activity,
        perfused_dose_gy=perfused,
        tumour_dose_gy=tumour,
        normal_liver_dose_gy=normal,
        lung_dose_gy=lung,
        cumulative_lung_dose_gy=cumulative_lung_dose_gy(lung, inputs.prior_lung_doses_gy),
        violations=check_plan_safety(safety, inputs.prior_lung_doses_gy, limits),
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
    if tnr is None or not tumour:
        return None
    normal = inputs.treated_mass_kg - tumour
    if normal <= 0:
        raise ClinicalRuleError("tumour_mass_kg: not less than the perfused mass")
    lsf = inputs.lung_shunt_fraction
    if inputs.activity_gbq is not None:
        activity = inputs.activity_gbq
    elif inputs.target_dose_gy is not None:
        activity = activity_for_tumour_dose_gbq(
            inputs.target_dose_gy, tnr, tumour, normal, lsf, inputs.device, limits
        )
    else:
        return None
    doses = partition_doses(
        activity, tnr, tumour, normal, lsf, inputs.lung_mass_kg, inputs.device, limits
    )
    return _finish(
        inputs,
        DosimetryMethod.PARTITION,
        activity,
        limits,
        tumour=doses.tumour_gy,
        normal=doses.normal_liver_gy,
    )


def _bsa(inputs: PreviewInputs, limits: DosimetryLimits) -> MethodPreview | None:
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


_METHODS = (_mird, _partition, _bsa, _ho166_standard)


def preview(inputs: PreviewInputs, limits: DosimetryLimits = _DEFAULT) -> list[MethodPreview]:
    """Every method the inputs allow, in a fixed order; an empty list means too little input."""
    results = [method(inputs, limits) for method in _METHODS]
    return [r for r in results if r is not None]

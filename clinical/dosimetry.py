"""SIRT dosimetry: activity and absorbed-dose formulas, decay, and the plan safety check.

Formulas (EANM 2022 dosimetry guideline; manufacturers' documents; van Roekel thesis):

- Du Bois BSA [m2] = 0.20247 x height[m]^0.725 x weight[kg]^0.425
- resin BSA method: A[GBq] = (BSA - 0.2) + V_tumour / V_liver, times the perfused fraction,
  then reduced by the lung-shunt band (<=10% none, <=15% 20%, <=20% 40%, above: refuse)
- single compartment (MIRD): D[Gy] = C x A[GBq] x (1 - LSF) / M[kg], C = 49.67 for Y-90
- lung: D_lung = C x A x LSF / M_lung
- partition: D_tumour = C x A x (1 - LSF) x TNR / (TNR x M_tumour + M_normal);
  D_normal = D_tumour / TNR
- Ho-166: C = 15.87 Gy kg/GBq; the standard activity is 3.78 GBq per kg of liver
- decay: A(t) = A0 x 2^(-t / T_half)

Activities are in GBq, masses in kg, doses in Gy and the lung shunt fraction (LSF) is a
fraction 0-1 throughout. Every constant comes from ``DosimetryLimits``. Nothing reads the clock:
decay takes the elapsed time as an argument.
"""

from collections.abc import Sequence
from datetime import timedelta

from pydantic import ConfigDict, Field

from clinical.config import DosimetryLimits
from clinical.enums import Device, DosimetryMethod, Nuclide
from clinical.errors import ClinicalRuleError, LungShuntTooHighError
from clinical.finite import Finite

__all__ = [
    "BsaActivityPlan",
    "Device",
    "DosimetryMethod",
    "Nuclide",
    "PartitionDoses",
    "PlanSafetyInputs",
    "SafetyViolation",
    "activity_for_tumour_dose_gbq",
    "bsa_du_bois_m2",
    "check_plan_safety",
    "cumulative_lung_dose_gy",
    "decay_corrected_activity_gbq",
    "decay_factor",
    "device_nuclide",
    "dose_constant",
    "ho166_activity_for_dose_gbq",
    "ho166_dose_gy",
    "ho166_standard_activity_gbq",
    "lsf_activity_reduction",
    "lung_dose_gy",
    "mass_kg_from_volume_ml",
    "mird_activity_for_dose_gbq",
    "mird_dose_gy",
    "normal_liver_limit_gy",
    "partition_doses",
    "resin_bsa_activity",
    "tumour_dose_target_gy",
]

_DEFAULT = DosimetryLimits()
_DEVICE_NUCLIDE = {Device.RESIN_Y90: Nuclide.Y90, Device.GLASS_Y90: Nuclide.Y90}


def _positive(name: str, value: float) -> None:
    if not value > 0:
        raise ClinicalRuleError(f"{name} must be greater than 0 (got {value})")


def _fraction(name: str, value: float, *, allow_one: bool = False) -> None:
    ok = 0.0 <= value <= 1.0 if allow_one else 0.0 <= value < 1.0
    if not ok:
        upper = "1" if allow_one else "below 1"
        raise ClinicalRuleError(f"{name} must be a fraction from 0 to {upper} (got {value})")


def dose_constant(device: Device, limits: DosimetryLimits = _DEFAULT) -> float:
    """Gy kg per GBq for the device's nuclide (49.67 for Y-90, 15.87 for Ho-166)."""
    if device is Device.HO166:
        return limits.ho166_dose_constant_gy_kg_per_gbq
    return limits.y90_dose_constant_gy_kg_per_gbq


def mass_kg_from_volume_ml(volume_ml: float, limits: DosimetryLimits = _DEFAULT) -> float:
    """Tissue mass from a CT volume, using the configured density (1.03 g/mL by default)."""
    _positive("volume", volume_ml)
    return volume_ml * limits.tissue_density_g_per_ml / 1000.0


def bsa_du_bois_m2(height_cm: float, weight_kg: float) -> float:
    """Body surface area by Du Bois: 0.20247 x height[m]^0.725 x weight[kg]^0.425."""
    _positive("height", height_cm)
    _positive("weight", weight_kg)
    return float(0.20247 * (height_cm / 100.0) ** 0.725 * weight_kg**0.425)


def lsf_activity_reduction(lung_shunt_fraction: float, limits: DosimetryLimits = _DEFAULT) -> float:
    """Fraction of resin BSA activity removed for this lung shunt; refuse above the limit.

    SIR-Spheres instructions for use: below 10% full activity; 10% up to 15% reduce by 20%;
    15% to 20% reduce by 40%; above 20% do not treat. Each band includes its lower bound, so
    exactly 10% is reduced by 20%, exactly 15% by 40%, and exactly 20% is still treatable.
    """
    _fraction("lung shunt fraction", lung_shunt_fraction, allow_one=True)
    if lung_shunt_fraction > limits.max_treatable_lsf:
        raise LungShuntTooHighError(
            f"lung shunt fraction {lung_shunt_fraction:.1%} is above the limit of "
            f"{limits.max_treatable_lsf:.0%}: do not treat with resin microspheres"
        )
    reduction = 0.0
    for band in limits.lsf_bands:
        if lung_shunt_fraction >= band.from_lsf:
            reduction = band.activity_reduction
    return reduction


class BsaActivityPlan(Finite):
    """The resin BSA-method prescription and how it was reached, for the physicist's record."""

    model_config = ConfigDict(frozen=True)

    bsa_m2: float
    whole_liver_activity_gbq: float
    perfused_fraction: float
    lsf_reduction: float
    activity_gbq: float


def resin_bsa_activity(
    bsa_m2: float,
    tumour_volume_ml: float,
    liver_volume_ml: float,
    perfused_volume_ml: float | None = None,
    lung_shunt_fraction: float = 0.0,
    limits: DosimetryLimits = _DEFAULT,
) -> BsaActivityPlan:
    """Resin BSA-method activity: (BSA - 0.2) + tumour/liver, scaled and LSF-reduced.

    ``liver_volume_ml`` is the whole liver including tumour. ``perfused_volume_ml`` (defaults to
    the whole liver) scales the activity for a lobar or segmental treatment. Raises
    ``LungShuntTooHighError`` when the LSF is above the last band.
    """
    _positive("BSA", bsa_m2)
    _positive("liver volume", liver_volume_ml)
    if not 0 <= tumour_volume_ml <= liver_volume_ml:
        raise ClinicalRuleError(
            f"tumour volume {tumour_volume_ml} mL must be between 0 and the liver volume "
            f"{liver_volume_ml} mL"
        )
    perfused = liver_volume_ml if perfused_volume_ml is None else perfused_volume_ml
    if not 0 < perfused <= liver_volume_ml:
        raise ClinicalRuleError(
            f"perfused volume {perfused} mL must be above 0 and at most the liver volume "
            f"{liver_volume_ml} mL"
        )
    reduction = lsf_activity_reduction(lung_shunt_fraction, limits)
    whole = bsa_m2 - limits.bsa_offset_m2 + tumour_volume_ml / liver_volume_ml
    if whole <= 0:
        raise ClinicalRuleError(f"BSA {bsa_m2:.2f} m2 gives no activity by the BSA method")
    fraction = perfused / liver_volume_ml
    return BsaActivityPlan(
        bsa_m2=bsa_m2,
        whole_liver_activity_gbq=whole,
        perfused_fraction=fraction,
        lsf_reduction=reduction,
        activity_gbq=whole * fraction * (1.0 - reduction),
    )


def mird_dose_gy(
    activity_gbq: float,
    mass_kg: float,
    lung_shunt_fraction: float = 0.0,
    device: Device = Device.RESIN_Y90,
    limits: DosimetryLimits = _DEFAULT,
) -> float:
    """Single-compartment mean dose: C x A x (1 - LSF) / M."""
    _positive("mass", mass_kg)
    _fraction("lung shunt fraction", lung_shunt_fraction, allow_one=True)
    if activity_gbq < 0:
        raise ClinicalRuleError(f"activity must not be negative (got {activity_gbq})")
    return dose_constant(device, limits) * activity_gbq * (1.0 - lung_shunt_fraction) / mass_kg


def mird_activity_for_dose_gbq(
    target_dose_gy: float,
    mass_kg: float,
    lung_shunt_fraction: float = 0.0,
    device: Device = Device.RESIN_Y90,
    limits: DosimetryLimits = _DEFAULT,
) -> float:
    """Activity giving ``target_dose_gy`` as a single-compartment mean dose: D x M / (C (1-LSF))."""
    _positive("mass", mass_kg)
    _positive("target dose", target_dose_gy)
    _fraction("lung shunt fraction", lung_shunt_fraction)
    return target_dose_gy * mass_kg / (dose_constant(device, limits) * (1.0 - lung_shunt_fraction))


def lung_dose_gy(
    activity_gbq: float,
    lung_shunt_fraction: float,
    lung_mass_kg: float | None = None,
    device: Device = Device.RESIN_Y90,
    limits: DosimetryLimits = _DEFAULT,
) -> float:
    """Lung dose: C x A x LSF / M_lung, with M_lung defaulting to the configured 1 kg."""
    mass = limits.default_lung_mass_kg if lung_mass_kg is None else lung_mass_kg
    _positive("lung mass", mass)
    _fraction("lung shunt fraction", lung_shunt_fraction, allow_one=True)
    if activity_gbq < 0:
        raise ClinicalRuleError(f"activity must not be negative (got {activity_gbq})")
    return dose_constant(device, limits) * activity_gbq * lung_shunt_fraction / mass


def cumulative_lung_dose_gy(planned_gy: float, prior_doses_gy: Sequence[float] = ()) -> float:
    """Lung dose summed over earlier treatments and this plan (repeat SIRT is allowed)."""
    if planned_gy < 0 or any(dose < 0 for dose in prior_doses_gy):
        raise ClinicalRuleError("lung doses must not be negative")
    return planned_gy + sum(prior_doses_gy)


class PartitionDoses(Finite):
    """Mean doses by the partition model."""

    model_config = ConfigDict(frozen=True)

    tumour_gy: float
    normal_liver_gy: float
    lung_gy: float


def _partition_denominator(tnr: float, tumour_mass_kg: float, normal_mass_kg: float) -> float:
    _positive("tumour-to-normal ratio", tnr)
    _positive("tumour mass", tumour_mass_kg)
    _positive("normal liver mass", normal_mass_kg)
    return tnr * tumour_mass_kg + normal_mass_kg


def partition_doses(
    activity_gbq: float,
    tnr: float,
    tumour_mass_kg: float,
    normal_mass_kg: float,
    lung_shunt_fraction: float = 0.0,
    lung_mass_kg: float | None = None,
    device: Device = Device.RESIN_Y90,
    limits: DosimetryLimits = _DEFAULT,
) -> PartitionDoses:
    """Tumour, normal-liver and lung doses by the partition model."""
    denominator = _partition_denominator(tnr, tumour_mass_kg, normal_mass_kg)
    _fraction("lung shunt fraction", lung_shunt_fraction, allow_one=True)
    liver_activity = activity_gbq * (1.0 - lung_shunt_fraction)
    tumour = dose_constant(device, limits) * liver_activity * tnr / denominator
    return PartitionDoses(
        tumour_gy=tumour,
        normal_liver_gy=tumour / tnr,
        lung_gy=lung_dose_gy(activity_gbq, lung_shunt_fraction, lung_mass_kg, device, limits),
    )


def activity_for_tumour_dose_gbq(
    target_tumour_dose_gy: float,
    tnr: float,
    tumour_mass_kg: float,
    normal_mass_kg: float,
    lung_shunt_fraction: float = 0.0,
    device: Device = Device.RESIN_Y90,
    limits: DosimetryLimits = _DEFAULT,
) -> float:
    """Partition-model activity giving the target tumour dose."""
    denominator = _partition_denominator(tnr, tumour_mass_kg, normal_mass_kg)
    _positive("target tumour dose", target_tumour_dose_gy)
    _fraction("lung shunt fraction", lung_shunt_fraction)
    constant = dose_constant(device, limits)
    return target_tumour_dose_gy * denominator / (constant * (1.0 - lung_shunt_fraction) * tnr)


def ho166_dose_gy(
    activity_gbq: float,
    mass_kg: float,
    lung_shunt_fraction: float = 0.0,
    limits: DosimetryLimits = _DEFAULT,
) -> float:
    """Ho-166 mean dose: 15.87 x A x (1 - LSF) / M."""
    return mird_dose_gy(activity_gbq, mass_kg, lung_shunt_fraction, Device.HO166, limits)


def ho166_activity_for_dose_gbq(
    target_dose_gy: float,
    mass_kg: float,
    lung_shunt_fraction: float = 0.0,
    limits: DosimetryLimits = _DEFAULT,
) -> float:
    """Ho-166 activity giving the target mean dose."""
    return mird_activity_for_dose_gbq(
        target_dose_gy, mass_kg, lung_shunt_fraction, Device.HO166, limits
    )


def ho166_standard_activity_gbq(liver_mass_kg: float, limits: DosimetryLimits = _DEFAULT) -> float:
    """Standard Ho-166 activity: 3.78 GBq per kg of liver (about 60 Gy to the whole liver)."""
    _positive("liver mass", liver_mass_kg)
    return limits.ho166_standard_activity_gbq_per_kg * liver_mass_kg


def _hours(elapsed: timedelta | float) -> float:
    return elapsed.total_seconds() / 3600.0 if isinstance(elapsed, timedelta) else float(elapsed)


def decay_factor(
    nuclide: Nuclide, elapsed: timedelta | float, limits: DosimetryLimits = _DEFAULT
) -> float:
    """Fraction of activity left after ``elapsed`` (a timedelta or hours): 2^(-t / T_half).

    A negative elapsed time gives the factor back to an earlier reference time (above 1).
    """
    return float(2.0 ** (-_hours(elapsed) / limits.half_life_hours[nuclide]))


def decay_corrected_activity_gbq(
    activity_gbq: float,
    nuclide: Nuclide,
    elapsed: timedelta | float,
    limits: DosimetryLimits = _DEFAULT,
) -> float:
    """Activity at the planned time, ``elapsed`` after the calibration time of ``activity_gbq``."""
    if activity_gbq < 0:
        raise ClinicalRuleError(f"activity must not be negative (got {activity_gbq})")
    return activity_gbq * decay_factor(nuclide, elapsed, limits)


def device_nuclide(device: Device) -> Nuclide:
    """The radionuclide a device carries."""
    return _DEVICE_NUCLIDE.get(device, Nuclide.HO166)


def normal_liver_limit_gy(
    device: Device, pretreated: bool = False, limits: DosimetryLimits = _DEFAULT
) -> float:
    """Normal-liver dose limit for the device, stricter for a pretreated liver if configured."""
    if pretreated and device in limits.pretreated_normal_liver_limit_gy:
        return limits.pretreated_normal_liver_limit_gy[device]
    return limits.normal_liver_limit_gy[device]


def tumour_dose_target_gy(device: Device, limits: DosimetryLimits = _DEFAULT) -> float | None:
    """Minimum tumour dose aimed for with this device, or None where none is configured."""
    return limits.tumour_dose_target_gy.get(device)


_DEVICE_LABEL = {
    Device.RESIN_Y90: "resin Y-90",
    Device.GLASS_Y90: "glass Y-90",
    Device.HO166: "Ho-166",
}


class PlanSafetyInputs(Finite):
    """The predicted doses of a dosimetry plan, as the physicist submits them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    device: Device
    method: DosimetryMethod
    predicted_lung_dose_gy: float = Field(ge=0)
    predicted_normal_liver_dose_gy: float | None = Field(
        default=None,
        ge=0,
        description="None when the method gives no separate normal-liver dose (BSA).",
    )
    single_compartment_dose_gy: float | None = Field(
        default=None,
        ge=0,
        description="Perfused-volume dose, checked when no normal-liver dose can be derived "
        "(no tumour-to-normal ratio): against the device's single-compartment limit.",
    )
    lung_shunt_fraction: float | None = Field(default=None, ge=0, le=1)
    pretreated_liver: bool = Field(
        default=False, description="E.g. prior chemotherapy: stricter limit."
    )


class SafetyViolation(Finite):
    """A plan value over its limit; the message names both."""

    model_config = ConfigDict(frozen=True)

    code: str = Field(description="lung_dose_single, lung_dose_cumulative, normal_liver_dose, ...")
    field: str
    value: float
    limit: float
    message: str
    overridable: bool = Field(
        default=True, description="A dose limit (a judgement); False for a wrong figure."
    )


def check_plan_safety(
    plan: PlanSafetyInputs,
    prior_lung_doses_gy: Sequence[float] = (),
    limits: DosimetryLimits = _DEFAULT,
) -> list[SafetyViolation]:
    """Every way the plan breaks a dose limit; an empty list means the plan may proceed.

    A value exactly at a limit is allowed: the limits say "more than".
    """
    violations: list[SafetyViolation] = []
    lung = plan.predicted_lung_dose_gy
    if lung > limits.max_lung_dose_single_gy:
        violations.append(
            SafetyViolation(
                code="lung_dose_single",
                field="predicted_lung_dose_gy",
                value=lung,
                limit=limits.max_lung_dose_single_gy,
                message=f"predicted lung dose {lung:.2f} Gy exceeds the single-treatment limit "
                f"of {limits.max_lung_dose_single_gy:g} Gy",
            )
        )
    cumulative = cumulative_lung_dose_gy(lung, prior_lung_doses_gy)
    if cumulative > limits.max_lung_dose_cumulative_gy:
        violations.append(
            SafetyViolation(
                code="lung_dose_cumulative",
                field="predicted_lung_dose_gy",
                value=cumulative,
                limit=limits.max_lung_dose_cumulative_gy,
                message=f"cumulative lung dose {cumulative:.2f} Gy (this plan {lung:.2f} Gy, "
                f"earlier treatments {cumulative - lung:.2f} Gy) exceeds the cumulative limit "
                f"of {limits.max_lung_dose_cumulative_gy:g} Gy",
            )
        )
    normal = plan.predicted_normal_liver_dose_gy
    if normal is not None:
        limit = normal_liver_limit_gy(plan.device, plan.pretreated_liver, limits)
        if normal > limit:
            stricter = plan.pretreated_liver and plan.device in (
                limits.pretreated_normal_liver_limit_gy
            )
            qualifier = " for a pretreated liver" if stricter else ""
            violations.append(
                SafetyViolation(
                    code="normal_liver_dose",
                    field="predicted_normal_liver_dose_gy",
                    value=normal,
                    limit=limit,
                    message=f"predicted normal-liver dose {normal:.2f} Gy exceeds the "
                    f"{_DEVICE_LABEL[plan.device]} limit of {limit:g} Gy{qualifier}",
                )
            )
    single = plan.single_compartment_dose_gy
    if single is not None and single > limits.single_compartment_limit_gy[plan.device]:
        limit = limits.single_compartment_limit_gy[plan.device]
        violations.append(
            SafetyViolation(
                code="perfused_dose",
                field="predicted_perfused_dose_gy",
                value=single,
                limit=limit,
                message=f"predicted perfused-volume dose {single:.2f} Gy exceeds the "
                f"{_DEVICE_LABEL[plan.device]} single-compartment limit of {limit:g} Gy "
                "(no tumour-to-normal ratio recorded, so uptake is taken as uniform; a ratio "
                "from the MAA scan credits tumour uptake)",
            )
        )
    lsf = plan.lung_shunt_fraction
    if plan.method is DosimetryMethod.BSA and lsf is not None:
        highest = limits.max_treatable_lsf
        if lsf > highest:
            violations.append(
                SafetyViolation(
                    code="lung_shunt_above_bsa_limit",
                    field="lung_shunt_fraction",
                    value=lsf,
                    limit=highest,
                    message=f"lung shunt fraction {lsf:.1%} exceeds the BSA-method limit "
                    f"of {highest:.0%}",
                )
            )
    return violations

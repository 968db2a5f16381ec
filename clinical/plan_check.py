"""The dosimetry plan recomputed from what was recorded: derive, never trust.

``assess_plan`` takes the work-up's figures (lung shunt fraction, CT volumes) and the plan's
(device, method, total activity, tumour-to-normal ratio, any typed predicted doses) and returns
the doses the recorded inputs imply, with every refusal:

- method and device must agree: the BSA method is resin only (SIR-Spheres IFU); glass Y-90 and
  Ho-166 are planned by MIRD, partition or voxel, Ho-166 with its own dose constant;
- the partition method needs a tumour-to-normal ratio, and a tumour inside the perfused volume;
- a typed predicted dose further from the computed one than the configured tolerance is refused,
  naming both (never overridable: it is a wrong number, not a judgement);
- the dose limits (lung single and cumulative, normal liver, resin LSF) are applied to the
  computed doses, whatever was typed.

``assess_delivery`` does the same at treatment for the delivered activity: the delivered and
cumulative lung doses are computed, and activity above the plan by more than the configured
margin re-runs the lung and liver limits.

The Update validator and handler, the API, the web form and ``sirt dosimetry`` all call these
functions, so their messages are word for word the same. Nothing here raises for bad figures:
every problem comes back as a refusal, so a workflow handler calling this cannot fail.
"""

from collections.abc import Sequence

from pydantic import ConfigDict, Field

from clinical.config import DosimetryLimits
from clinical.dosimetry import (
    PlanSafetyInputs,
    SafetyViolation,
    check_plan_safety,
    dose_constant,
    partition_doses,
)
from clinical.enums import Device, DosimetryMethod
from clinical.finite import Finite

__all__ = [
    "TYPED_DOSES",
    "DeliveryAssessment",
    "PlanAssessment",
    "PlanDoses",
    "PlanFigures",
    "WorkupFigures",
    "assess_delivery",
    "assess_plan",
    "refusal_message",
]

_DEFAULT = DosimetryLimits()

# Methods each device may be planned with (BSA is the resin IFU's empirical method only).
_METHODS: dict[Device, frozenset[DosimetryMethod]] = {
    Device.RESIN_Y90: frozenset(DosimetryMethod),
    Device.GLASS_Y90: frozenset(DosimetryMethod) - {DosimetryMethod.BSA},
    Device.HO166: frozenset(DosimetryMethod) - {DosimetryMethod.BSA},
}
TYPED_DOSES = (
    ("predicted_lung_dose_gy", "lung_gy", "lung dose"),
    ("predicted_perfused_dose_gy", "perfused_gy", "perfused-volume dose"),
    ("predicted_tumour_dose_gy", "tumour_gy", "tumour dose"),
    ("predicted_normal_liver_dose_gy", "normal_liver_gy", "normal-liver dose"),
)


class WorkupFigures(Finite):
    """What the work-up recorded that dosimetry needs (volumes in mL, LSF a fraction)."""

    model_config = ConfigDict(frozen=True)

    lung_shunt_fraction: float
    whole_liver_volume_ml: float
    tumour_volume_ml: float = 0.0
    perfused_volume_ml: float | None = Field(default=None, description="None: whole liver.")
    lung_volume_ml: float | None = Field(default=None, description="None: default lung mass.")
    lung_mass_kg: float | None = Field(
        default=None, description="A lung mass known directly (the CLI preview); wins over volume."
    )


class PlanFigures(Finite):
    """The plan as submitted: total activity and what the physicist typed."""

    model_config = ConfigDict(frozen=True)

    device: Device
    method: DosimetryMethod
    activity_gbq: float
    tumour_to_normal_ratio: float | None = None
    predicted_lung_dose_gy: float | None = None
    predicted_perfused_dose_gy: float | None = None
    predicted_tumour_dose_gy: float | None = None
    predicted_normal_liver_dose_gy: float | None = None
    pretreated_liver: bool = False


class PlanDoses(Finite):
    """Doses the recorded inputs imply, and the masses they used."""

    model_config = ConfigDict(frozen=True)

    activity_gbq: float
    lung_mass_kg: float
    lung_mass_basis: str
    lung_gy: float
    cumulative_lung_gy: float
    perfused_mass_kg: float
    perfused_gy: float
    tumour_gy: float | None = None
    normal_liver_gy: float | None = None


class PlanAssessment(Finite):
    """Computed doses (None when the inputs cannot give any) and every refusal."""

    model_config = ConfigDict(frozen=True)

    doses: PlanDoses | None
    refusals: list[SafetyViolation] = Field(default_factory=list)

    @property
    def limit_refusals(self) -> list[SafetyViolation]:
        """Dose limits broken: a centre may let a physicist override these with a reason."""
        return [r for r in self.refusals if r.overridable]

    @property
    def hard_refusals(self) -> list[SafetyViolation]:
        """Wrong or inconsistent figures: never overridable."""
        return [r for r in self.refusals if not r.overridable]


class DeliveryAssessment(Finite):
    """Delivered and cumulative lung doses, computed, and limits broken by an excess."""

    model_config = ConfigDict(frozen=True)

    delivered_activity_gbq: float
    planned_activity_gbq: float
    excess_pct: float
    lung_gy: float
    cumulative_lung_gy: float
    refusals: list[SafetyViolation] = Field(default_factory=list)


def refusal_message(refusals: Sequence[SafetyViolation]) -> str:
    """One line naming the first refusal's field, then every refusal: the Update's message."""
    return f"{refusals[0].field}: " + "; ".join(r.message for r in refusals)


def _refusal(
    code: str, field: str, message: str, value: float = 0.0, limit: float = 0.0
) -> SafetyViolation:
    return SafetyViolation(
        code=code, field=field, value=value, limit=limit, message=message, overridable=False
    )


def _lung_mass(workup: WorkupFigures, limits: DosimetryLimits) -> tuple[float, str]:
    if workup.lung_mass_kg is not None:
        return workup.lung_mass_kg, f"lung mass {workup.lung_mass_kg:g} kg"
    if workup.lung_volume_ml is None:
        return limits.default_lung_mass_kg, f"default lung mass {limits.default_lung_mass_kg:g} kg"
    mass = workup.lung_volume_ml * limits.lung_density_g_per_ml / 1000.0
    basis = (
        f"CT lung volume {workup.lung_volume_ml:g} mL x {limits.lung_density_g_per_ml:g} g/mL "
        f"= {mass:.2f} kg"
    )
    return mass, basis


def _inconsistent(workup: WorkupFigures, plan: PlanFigures) -> list[SafetyViolation]:
    problems: list[SafetyViolation] = []
    if plan.method not in _METHODS[plan.device]:
        allowed = ", ".join(sorted(m.value for m in _METHODS[plan.device]))
        problems.append(
            _refusal(
                "method_device_mismatch",
                "method",
                f"the {plan.method.value} method is not used with {plan.device.value} "
                f"(the BSA method is for resin Y-90 only); use one of {allowed}",
            )
        )
    if plan.method is DosimetryMethod.PARTITION and plan.tumour_to_normal_ratio is None:
        problems.append(
            _refusal(
                "partition_needs_tnr",
                "tumour_to_normal_ratio",
                "the partition method needs the tumour-to-normal ratio",
            )
        )
    if not 0 <= workup.lung_shunt_fraction < 1:
        problems.append(
            _refusal(
                "lung_shunt_fraction",
                "lung_shunt_fraction",
                f"work-up lung shunt fraction {workup.lung_shunt_fraction:g} is not a fraction "
                "from 0 to below 1",
            )
        )
    perfused = workup.perfused_volume_ml or workup.whole_liver_volume_ml
    if plan.tumour_to_normal_ratio is not None and workup.tumour_volume_ml >= perfused:
        problems.append(
            _refusal(
                "tumour_fills_perfused_volume",
                "perfused_volume_ml",
                f"work-up tumour volume {workup.tumour_volume_ml:g} mL is not less than the "
                f"perfused volume {perfused:g} mL: the partition model needs normal liver",
            )
        )
    if plan.activity_gbq <= 0 or perfused <= 0:
        problems.append(_refusal("no_activity", "positions", "the plan prescribes no activity"))
    return problems


def _compute(
    workup: WorkupFigures,
    device: Device,
    activity: float,
    tnr: float | None,
    prior_lung_doses_gy: Sequence[float],
    limits: DosimetryLimits,
) -> PlanDoses:
    """Doses for ``activity``; callers have ruled out the inconsistent inputs."""
    lsf = workup.lung_shunt_fraction
    constant = dose_constant(device, limits)
    density = limits.tissue_density_g_per_ml / 1000.0
    perfused_mass = (workup.perfused_volume_ml or workup.whole_liver_volume_ml) * density
    lung_mass, basis = _lung_mass(workup, limits)
    lung = constant * activity * lsf / lung_mass
    # The mean dose over the perfused volume holds however the activity is spread.
    perfused = constant * activity * (1.0 - lsf) / perfused_mass
    tumour = normal = None
    if tnr is not None and workup.tumour_volume_ml > 0:
        tumour_mass = workup.tumour_volume_ml * density
        doses = partition_doses(
            activity, tnr, tumour_mass, perfused_mass - tumour_mass, lsf, lung_mass, device, limits
        )
        tumour, normal = doses.tumour_gy, doses.normal_liver_gy
    elif tnr is not None:
        normal = perfused  # no tumour in the perfused volume: it is all normal liver
    return PlanDoses(
        activity_gbq=activity,
        lung_mass_kg=lung_mass,
        lung_mass_basis=basis,
        lung_gy=lung,
        cumulative_lung_gy=lung + sum(prior_lung_doses_gy),
        perfused_mass_kg=perfused_mass,
        perfused_gy=perfused,
        tumour_gy=tumour,
        normal_liver_gy=normal,
    )


def _within(typed: float, computed: float, limits: DosimetryLimits) -> bool:
    allowed = max(limits.typed_dose_tolerance_gy, computed * limits.typed_dose_tolerance_pct / 100)
    return abs(typed - computed) <= allowed


def _typed_mismatches(
    plan: PlanFigures, doses: PlanDoses, workup: WorkupFigures, limits: DosimetryLimits
) -> list[SafetyViolation]:
    problems: list[SafetyViolation] = []
    for field, attr, label in TYPED_DOSES:
        typed: float | None = getattr(plan, field)
        computed: float | None = getattr(doses, attr)
        if typed is None or computed is None or _within(typed, computed, limits):
            continue
        if attr == "lung_gy":
            how = (
                f"{plan.activity_gbq:.2f} GBq x LSF {workup.lung_shunt_fraction:.1%} x "
                f"{dose_constant(plan.device, limits):g} Gy kg/GBq / {doses.lung_mass_basis}"
            )
        else:
            how = f"{plan.activity_gbq:.2f} GBq by the {plan.method.value} method"
        problems.append(
            _refusal(
                "typed_dose_differs",
                field,
                f"typed {label} {typed:.2f} Gy differs from the {computed:.2f} Gy the recorded "
                f"inputs give ({how}) by more than {limits.typed_dose_tolerance_pct:g}% "
                f"(or {limits.typed_dose_tolerance_gy:g} Gy)",
                value=typed,
                limit=computed,
            )
        )
    return problems


def _limits_broken(
    device: Device,
    method: DosimetryMethod,
    pretreated: bool,
    doses: PlanDoses,
    lsf: float,
    prior_lung_doses_gy: Sequence[float],
    limits: DosimetryLimits,
) -> list[SafetyViolation]:
    safety = PlanSafetyInputs(
        device=device,
        method=method,
        predicted_lung_dose_gy=doses.lung_gy,
        predicted_normal_liver_dose_gy=doses.normal_liver_gy,
        single_compartment_dose_gy=doses.perfused_gy if doses.normal_liver_gy is None else None,
        lung_shunt_fraction=lsf,
        pretreated_liver=pretreated,
    )
    return check_plan_safety(safety, prior_lung_doses_gy, limits)


def assess_plan(
    workup: WorkupFigures,
    plan: PlanFigures,
    prior_lung_doses_gy: Sequence[float] = (),
    limits: DosimetryLimits = _DEFAULT,
) -> PlanAssessment:
    """The plan's doses from the recorded inputs, and every reason to refuse it."""
    inconsistent = _inconsistent(workup, plan)
    if inconsistent:
        return PlanAssessment(doses=None, refusals=inconsistent)
    doses = _compute(
        workup,
        plan.device,
        plan.activity_gbq,
        plan.tumour_to_normal_ratio,
        prior_lung_doses_gy,
        limits,
    )
    refusals = _typed_mismatches(plan, doses, workup, limits)
    refusals += _limits_broken(
        plan.device,
        plan.method,
        plan.pretreated_liver,
        doses,
        workup.lung_shunt_fraction,
        prior_lung_doses_gy,
        limits,
    )
    return PlanAssessment(doses=doses, refusals=refusals)


def assess_delivery(
    workup: WorkupFigures,
    plan: PlanFigures,
    delivered_activity_gbq: float,
    prior_lung_doses_gy: Sequence[float] = (),
    limits: DosimetryLimits = _DEFAULT,
) -> DeliveryAssessment:
    """Delivered and cumulative lung doses; the limits again when more went in than planned."""
    lsf = min(max(workup.lung_shunt_fraction, 0.0), 1.0)
    lung_mass, _ = _lung_mass(workup, limits)
    lung = dose_constant(plan.device, limits) * delivered_activity_gbq * lsf / lung_mass
    planned = plan.activity_gbq
    excess = (delivered_activity_gbq / planned - 1.0) * 100.0 if planned > 0 else 0.0
    refusals: list[SafetyViolation] = []
    if excess > limits.delivered_activity_margin_pct and not _inconsistent(workup, plan):
        doses = _compute(
            workup,
            plan.device,
            delivered_activity_gbq,
            plan.tumour_to_normal_ratio,
            prior_lung_doses_gy,
            limits,
        )
        prefix = (
            f"delivered activity {delivered_activity_gbq:.2f} GBq is {excess:.1f}% above the "
            f"planned {planned:.2f} GBq (margin {limits.delivered_activity_margin_pct:g}%): "
        )
        broken = _limits_broken(
            plan.device, plan.method, plan.pretreated_liver, doses, lsf, prior_lung_doses_gy, limits
        )
        refusals = [
            r.model_copy(update={"field": "positions", "message": prefix + r.message})
            for r in broken
        ]
    return DeliveryAssessment(
        delivered_activity_gbq=delivered_activity_gbq,
        planned_activity_gbq=planned,
        excess_pct=excess,
        lung_gy=lung,
        cumulative_lung_gy=lung + sum(prior_lung_doses_gy),
        refusals=refusals,
    )

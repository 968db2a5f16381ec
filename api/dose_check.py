"""The dosimetry form's computed doses: what the pathway's recorded work-up and the typed plan
imply, by the very function the dosimetry Update checks the plan with (``assess_plan``).

Shown next to the typed doses before the plan is recorded ("Check doses") and after a refusal,
so a physicist sees the figures the pathway will hold them to.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from api.schemas import OutcomePublic
from clinical.config import DosimetryLimits
from clinical.plan_check import TYPED_DOSES, PlanFigures, assess_plan
from models.labels import label_for
from models.steps import WorkupResult
from workflows.clinical_checks import workup_figures


@dataclass
class DoseCheck:
    """Computed doses by form field ("predicted_lung_dose_gy" -> 39.74), and why the plan as
    typed would be refused (in the label map's words); ``missing`` says what to enter first."""

    computed: dict[str, float] = field(default_factory=dict)
    refusals: list[str] = field(default_factory=list)
    missing: str | None = None
    basis: str | None = None

    def hint(self, name: str) -> str | None:
        """The computed figure shown beside the typed input ``name``."""
        value = self.computed.get(name)
        return None if value is None else f"Computed from the work-up and this plan: {value:.2f} Gy"


def recorded_workup(outcomes: Sequence[OutcomePublic]) -> WorkupResult | None:
    """The latest work-up the pathway recorded (the one its dosimetry plan is checked against)."""
    found = [o.data for o in outcomes if o.kind == "workup"]
    if not found:
        return None
    data = {k: v for k, v in found[-1].items() if k in WorkupResult.model_fields}
    try:
        return WorkupResult.model_validate(data)
    except ValidationError:
        return None


def _number(value: Any) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def check_doses(
    outcomes: Sequence[OutcomePublic],
    plan: Mapping[str, Any],
    cumulative_lung_dose_gy: float,
    limits: DosimetryLimits,
) -> DoseCheck:
    """The doses the recorded work-up and the typed plan (form values, maybe incomplete) imply."""
    workup = recorded_workup(outcomes)
    if workup is None:
        return DoseCheck(missing="The pathway has no recorded work-up to compute doses from.")
    positions = plan.get("positions") or []
    activities = [_number(p.get("activity_gbq")) for p in positions if isinstance(p, Mapping)]
    activity = sum(a for a in activities if a is not None)
    if not plan.get("device") or not plan.get("method") or activity <= 0:
        return DoseCheck(missing="Enter the device, the method and each position's activity.")
    typed = {name: _number(plan.get(name)) for name, _, _ in TYPED_DOSES}
    try:
        figures = PlanFigures(
            device=plan["device"],
            method=plan["method"],
            activity_gbq=activity,
            tumour_to_normal_ratio=_number(plan.get("tumour_to_normal_ratio")),
            pretreated_liver=bool(plan.get("pretreated_liver")),
            **typed,
        )
    except ValidationError:
        return DoseCheck(missing="Check the device, the method and the figures typed.")
    prior = [cumulative_lung_dose_gy] if cumulative_lung_dose_gy else []
    assessed = assess_plan(workup_figures(workup), figures, prior, limits)
    check = DoseCheck(refusals=[f"{label_for(r.field)}: {r.message}" for r in assessed.refusals])
    doses = assessed.doses
    if doses is not None:
        check.basis = f"{doses.activity_gbq:.2f} GBq, lung mass {doses.lung_mass_kg:.2f} kg"
        for name, attr, _ in TYPED_DOSES:
            value = getattr(doses, attr)
            if value is not None:
                check.computed[name] = round(float(value), 2)
    return check

"""Plausible ranges for every physical and laboratory input, with a hint for a wrong unit.

A height typed in metres gives a BSA of 0.07 m2 and a tiny activity; a liver mass in grams
gives thousands of GBq; an albumin in g/dL grades as a severe fall. None of these is a
typing slip a range of "greater than zero" catches, so each field named here has a range a
living adult's value falls in, and a hint saying which unit the value looks like instead.

The ranges are deliberately wide (they catch units, not disease) [practice]; a value below
the lower bound is either a different unit or below any laboratory's reporting limit, where
every CTCAE grade is the same (a bilirubin under 3.5 umol/L is normal however low). The table
is keyed by field name, so every model that names a field this way gets the same check.
"""

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationInfo, field_validator

from clinical.finite import Finite


@dataclass(frozen=True)
class UnitHint:
    """When an implausible value falls in [low, high], it looks like ``unit``: ``advice``."""

    low: float
    high: float
    advice: str


@dataclass(frozen=True)
class PlausibleRange:
    """The inclusive range a value is accepted in, in the field's own unit."""

    low: float
    high: float
    unit: str
    hints: tuple[UnitHint, ...] = ()


_ACTIVITY = PlausibleRange(
    0.01, 20.0, "GBq", (UnitHint(20.0, 20000.0, "that looks like MBq: divide by 1000"),)
)
_LIVER_VOLUME = PlausibleRange(
    300.0, 6000.0, "mL", (UnitHint(0.3, 6.0, "that looks like litres: multiply by 1000"),)
)
_PART_VOLUME = PlausibleRange(
    0.0, 6000.0, "mL", (UnitHint(6000.0, 6e6, "that looks like mm3: divide by 1000"),)
)
_ORGAN_MASS = PlausibleRange(
    0.0, 6.0, "kg", (UnitHint(6.0, 6000.0, "that looks like grams: divide by 1000"),)
)
_DOSE = PlausibleRange(0.0, 2000.0, "Gy")

RANGES: dict[str, PlausibleRange] = {
    # Laboratory values (the units of UK laboratories).
    "bilirubin_umol_l": PlausibleRange(
        3.5, 850.0, "umol/L", (UnitHint(0.0, 3.5, "that looks like mg/dL: multiply by 17.1"),)
    ),
    "albumin_g_l": PlausibleRange(
        10.0, 60.0, "g/L", (UnitHint(0.5, 10.0, "that looks like g/dL: multiply by 10"),)
    ),
    "alt_u_l": PlausibleRange(1.0, 10000.0, "U/L"),
    "ast_u_l": PlausibleRange(1.0, 10000.0, "U/L"),
    "alp_u_l": PlausibleRange(5.0, 10000.0, "U/L"),
    "ggt_u_l": PlausibleRange(1.0, 10000.0, "U/L"),
    "inr": PlausibleRange(0.5, 10.0, "", (UnitHint(10.0, 200.0, "that looks like seconds"),)),
    "platelets_10e9_l": PlausibleRange(
        1.0, 2000.0, "x10^9/L", (UnitHint(2000.0, 2e6, "that looks like per uL: divide by 1000"),)
    ),
    "wbc_10e9_l": PlausibleRange(
        0.1, 500.0, "x10^9/L", (UnitHint(500.0, 5e5, "that looks like per uL: divide by 1000"),)
    ),
    "egfr_ml_min": PlausibleRange(1.0, 200.0, "mL/min"),
    # Body size (the BSA method).
    "height_cm": PlausibleRange(
        100.0,
        250.0,
        "cm",
        (
            UnitHint(1.0, 2.5, "that looks like metres: multiply by 100"),
            UnitHint(1000.0, 2500.0, "that looks like mm: divide by 10"),
        ),
    ),
    "weight_kg": PlausibleRange(
        25.0, 300.0, "kg", (UnitHint(25000.0, 300000.0, "that looks like grams: divide by 1000"),)
    ),
    # Work-up: fractions, activities and CT volumes.
    "lung_shunt_fraction": PlausibleRange(
        0.0, 1.0, "", (UnitHint(1.0, 100.0, "that looks like a percentage: give 0.08 for 8%"),)
    ),
    "scout_activity_mbq": PlausibleRange(
        10.0, 1000.0, "MBq", (UnitHint(0.01, 1.0, "that looks like GBq: multiply by 1000"),)
    ),
    "whole_liver_volume_ml": _LIVER_VOLUME,
    "perfused_volume_ml": PlausibleRange(
        10.0, 6000.0, "mL", (UnitHint(0.01, 6.0, "that looks like litres: multiply by 1000"),)
    ),
    "tumour_volume_ml": _PART_VOLUME,
    "lung_volume_ml": PlausibleRange(
        1000.0, 10000.0, "mL", (UnitHint(1.0, 10.0, "that looks like litres: multiply by 1000"),)
    ),
    "perfused_mass_kg": _ORGAN_MASS,
    "liver_mass_kg": _ORGAN_MASS,
    "tumour_mass_kg": _ORGAN_MASS,
    "lung_mass_kg": PlausibleRange(
        0.3, 3.0, "kg", (UnitHint(300.0, 3000.0, "that looks like grams: divide by 1000"),)
    ),
    # Dosimetry plan and delivery.
    "activity_gbq": _ACTIVITY,
    "administered_activity_gbq": _ACTIVITY,
    "tumour_to_normal_ratio": PlausibleRange(0.1, 100.0, ""),
    "predicted_tumour_dose_gy": _DOSE,
    "predicted_normal_liver_dose_gy": _DOSE,
    "predicted_perfused_dose_gy": _DOSE,
    "predicted_lung_dose_gy": _DOSE,
    "target_dose_gy": _DOSE,
}


def _with_unit(value: float, unit: str) -> str:
    return f"{value:g} {unit}".rstrip()


def implausible(field: str, value: float, rng: PlausibleRange | None = None) -> str | None:
    """Why ``value`` cannot be a ``field`` value (with a unit hint), or None when plausible."""
    rng = rng or RANGES.get(field)
    if rng is None or rng.low <= value <= rng.high:
        return None
    reason = (
        f"{_with_unit(value, rng.unit)} is outside the plausible range "
        f"{rng.low:g}-{_with_unit(rng.high, rng.unit)}"
    )
    hint = next((h.advice for h in rng.hints if h.low <= value <= h.high), None)
    return f"{reason}; {hint}" if hint else reason


class PlausibleNumbers(Finite):
    """Base for input models: finite floats, and the fields named in ``RANGES`` in range.

    A field validator (not a model one) so the error's location is the field itself, nested
    or not, and the API and forms put the message next to it.
    """

    @field_validator("*", mode="after")
    @classmethod
    def _in_range(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, float | int) and not isinstance(value, bool) and info.field_name:
            problem = implausible(info.field_name, float(value))
            if problem:
                raise ValueError(problem)
        return value

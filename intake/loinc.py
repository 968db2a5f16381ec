"""Which laboratory results the pathway takes from other systems, and in which units.

A table, not code: a centre whose laboratory sends another unit adds a factor to its file
(``SIRT_INTAKE_CONFIG``) instead of a branch here.
"""

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from models.steps import ExternalResults, Labs

# Fields of ExternalResults that are not in Labs: tumour markers kept beside the panel.
MARKER_FIELDS = ("chromogranin_a_ug_l", "hiaa_5_umol_24h")


class LoincMapping(BaseModel):
    """One LOINC code: the field it fills and the factor from each accepted unit to its unit."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    field: str
    units: dict[str, float] = Field(description="Unit as sent (lower case) -> factor.")


def _m(name: str, field: str, **units: float) -> LoincMapping:
    return LoincMapping(name=name, field=field, units=units)


_U_L = {"u/l": 1.0, "iu/l": 1.0, "[iu]/l": 1.0}
_DEFAULT = {
    "1975-2": _m("bilirubin", "bilirubin_umol_l", **{"umol/l": 1.0, "µmol/l": 1.0, "mg/dl": 17.1}),
    "1751-7": _m("albumin", "albumin_g_l", **{"g/l": 1.0, "g/dl": 10.0}),
    "1742-6": _m("ALT", "alt_u_l", **_U_L),
    "1920-8": _m("AST", "ast_u_l", **_U_L),
    "6768-6": _m("ALP", "alp_u_l", **_U_L),
    "2324-2": _m("GGT", "ggt_u_l", **_U_L),
    "777-3": _m(
        "platelets",
        "platelets_10e9_l",
        **{"10*9/l": 1.0, "10^9/l": 1.0, "x10e9/l": 1.0, "10*3/ul": 1.0, "10^3/ul": 1.0},
    ),
    "6301-6": _m("INR", "inr", **{"": 1.0, "{inr}": 1.0, "{ratio}": 1.0, "ratio": 1.0}),
    "9811-1": _m("chromogranin A", "chromogranin_a_ug_l", **{"ug/l": 1.0, "ng/ml": 1.0}),
    # 5-HIAA, 24-hour urine: 1 mg is 5.23 umol (molar mass 191.2 g/mol).
    "1695-8": _m(
        "5-HIAA",
        "hiaa_5_umol_24h",
        **{"umol/(24.h)": 1.0, "umol/24h": 1.0, "umol/d": 1.0, "mg/(24.h)": 5.23, "mg/24h": 5.23},
    ),
}


class IntakeConfig(BaseModel):
    """The LOINC codes taken from other systems; a code not listed is ignored."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    loinc: dict[str, LoincMapping] = Field(default_factory=lambda: dict(_DEFAULT))

    def model_post_init(self, _context: object) -> None:
        """Refuse a mapping to a field the results step does not have."""
        known = set(Labs.model_fields) | set(MARKER_FIELDS)
        for code, mapping in self.loinc.items():
            if mapping.field not in known:
                raise ValueError(f"loinc.{code}.field: {mapping.field!r} is not a result field")


def load_intake_config(path: Path | None) -> IntakeConfig:
    """The centre's file if given, else the default table."""
    if path is None:
        return IntakeConfig()
    return IntakeConfig.model_validate_json(path.read_text())


def convert(mapping: LoincMapping, value: float, unit: str) -> float | None:
    """``value`` in the field's unit, or None if ``unit`` is not one the mapping accepts."""
    factor = mapping.units.get(unit.strip().lower())
    return None if factor is None else round(value * factor, 3)


def results_payload(source: str, collected_on: object, values: dict[str, float]) -> ExternalResults:
    """The step payload for converted values by field (raises ValidationError naming it)."""
    labs = {k: v for k, v in values.items() if k not in MARKER_FIELDS}
    markers = {k: v for k, v in values.items() if k in MARKER_FIELDS}
    return ExternalResults.model_validate(
        {"source": source, "collected_on": collected_on, "labs": labs, **markers}
    )

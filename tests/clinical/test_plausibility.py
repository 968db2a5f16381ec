"""Plausible ranges with unit hints: each value below was measured on the old main, or is the
same quantity typed in the unit a form's neighbour uses. Unit factors: bilirubin 1 mg/dL =
17.1 umol/L; albumin 1 g/dL = 10 g/L (CTCAE v5 states both); 1 m = 100 cm; 1 kg = 1000 g."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from clinical.plan_preview import PreviewInputs
from clinical.plausibility import RANGES, implausible
from models.steps import DosimetryPlan, Labs, PositionActivity, WorkupResult

LIVER = {"device": "resin_y90", "lung_shunt_fraction": 0.05, "liver_mass_kg": 1.6}


@pytest.mark.parametrize(
    ("model", "values", "field", "message"),
    [
        # issue 10: bilirubin 3.0 (mg/dL typed into umol/L) graded 0.
        (Labs, {"bilirubin_umol_l": 3.0}, "bilirubin_umol_l",
         "3 umol/L is outside the plausible range 3.5-850 umol/L; that looks like mg/dL: "
         "multiply by 17.1"),
        (Labs, {"albumin_g_l": 3.8}, "albumin_g_l",
         "3.8 g/L is outside the plausible range 10-60 g/L; that looks like g/dL: multiply by 10"),
        (Labs, {"platelets_10e9_l": 210000}, "platelets_10e9_l",
         "210000 x10^9/L is outside the plausible range 1-2000 x10^9/L; that looks like per uL: "
         "divide by 1000"),
        (Labs, {"inr": 13}, "inr", "13 is outside the plausible range 0.5-10; that looks like "
         "seconds"),
        # issue 10: height in metres gave a BSA of 0.066 m2 and 0.116 GBq.
        (PreviewInputs, {**LIVER, "height_cm": 1.75}, "height_cm",
         "1.75 cm is outside the plausible range 100-250 cm; that looks like metres: multiply by "
         "100"),
        (PreviewInputs, {**LIVER, "height_cm": 1750}, "height_cm",
         "1750 cm is outside the plausible range 100-250 cm; that looks like mm: divide by 10"),
        (PreviewInputs, {**LIVER, "weight_kg": 80000}, "weight_kg",
         "80000 kg is outside the plausible range 25-300 kg; that looks like grams: divide by "
         "1000"),
        # issue 10: a liver mass in grams gave 6,805 GBq of Ho-166.
        (PreviewInputs, {**LIVER, "liver_mass_kg": 1800}, "liver_mass_kg",
         "1800 kg is outside the plausible range 0-6 kg; that looks like grams: divide by 1000"),
        (PositionActivity, {"position": "right", "activity_gbq": 1800}, "activity_gbq",
         "1800 GBq is outside the plausible range 0.01-20 GBq; that looks like MBq: divide by "
         "1000"),
        (WorkupResult, {"lung_shunt_fraction": 8}, "lung_shunt_fraction",
         "8 is outside the plausible range 0-1; that looks like a percentage: give 0.08 for 8%"),
        (WorkupResult, {"whole_liver_volume_ml": 1.8}, "whole_liver_volume_ml",
         "1.8 mL is outside the plausible range 300-6000 mL; that looks like litres: multiply by "
         "1000"),
        (WorkupResult, {"lung_volume_ml": 4.5}, "lung_volume_ml",
         "4.5 mL is outside the plausible range 1000-10000 mL; that looks like litres: multiply "
         "by 1000"),
    ],
)  # fmt: skip
def test_an_implausible_value_is_refused_naming_the_field_and_the_likely_unit(
    model: type[BaseModel], values: dict, field: str, message: str
) -> None:
    with pytest.raises(ValidationError) as info:
        model.model_validate(values)
    errors = {e["loc"][0]: e["msg"].removeprefix("Value error, ") for e in info.value.errors()}
    assert errors[field] == message


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("bilirubin_umol_l", 3.5), ("bilirubin_umol_l", 850), ("albumin_g_l", 10),
        ("albumin_g_l", 60), ("height_cm", 100), ("height_cm", 250), ("weight_kg", 25),
        ("lung_shunt_fraction", 0), ("lung_shunt_fraction", 1), ("activity_gbq", 20),
        ("inr", 0.5), ("inr", 10), ("lung_volume_ml", 1000), ("whole_liver_volume_ml", 300),
    ],
)  # fmt: skip
def test_the_bounds_themselves_are_plausible(field: str, value: float) -> None:
    assert implausible(field, value) is None


def test_every_ranged_field_is_a_field_of_some_input_model() -> None:
    fields = set()
    for model in (Labs, WorkupResult, DosimetryPlan, PositionActivity, PreviewInputs):
        fields |= set(model.model_fields)
    fields |= {"administered_activity_gbq"}
    assert set(RANGES) - fields == set()


def test_a_value_inside_the_hint_but_plausible_is_not_flagged() -> None:
    assert implausible("albumin_g_l", 35) is None
    assert implausible("unknown_field", -1e9) is None


# -- properties: a value typed in the other unit is flagged, and the hint's conversion fixes it


@given(st.floats(min_value=100, max_value=250))
def test_any_height_typed_in_metres_is_flagged_and_the_hint_round_trips(height_cm: float) -> None:
    metres = height_cm / 100
    message = implausible("height_cm", metres)
    assert message is not None and "that looks like metres: multiply by 100" in message
    assert implausible("height_cm", metres * 100) is None


@given(st.floats(min_value=1.0, max_value=5.9))
def test_any_albumin_typed_in_g_per_dl_is_flagged(g_dl: float) -> None:
    message = implausible("albumin_g_l", g_dl)
    assert message is not None and "g/dL: multiply by 10" in message
    assert implausible("albumin_g_l", g_dl * 10) is None


@given(st.floats(min_value=0.3, max_value=6.0))
def test_any_organ_mass_typed_in_grams_is_flagged(kg: float) -> None:
    grams = kg * 1000
    message = implausible("liver_mass_kg", grams)
    assert message is not None and "grams: divide by 1000" in message
    assert implausible("liver_mass_kg", grams / 1000) is None


@given(st.floats(min_value=0.01, max_value=1.0))
def test_any_lung_shunt_typed_as_a_percentage_above_1_is_flagged(fraction: float) -> None:
    percent = fraction * 100
    if percent > 1:
        message = implausible("lung_shunt_fraction", percent)
        assert message is not None and "a percentage" in message
    assert implausible("lung_shunt_fraction", fraction) is None

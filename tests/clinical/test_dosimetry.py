"""Dosimetry: the physicist's formulas, worked by hand, and the limits that refuse a plan."""

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clinical.config import DosimetryLimits
from clinical.dosimetry import (
    Device,
    DosimetryMethod,
    Nuclide,
    PlanSafetyInputs,
    activity_for_tumour_dose_gbq,
    bsa_du_bois_m2,
    check_plan_safety,
    cumulative_lung_dose_gy,
    decay_corrected_activity_gbq,
    decay_factor,
    device_nuclide,
    dose_constant,
    ho166_activity_for_dose_gbq,
    ho166_dose_gy,
    ho166_standard_activity_gbq,
    lsf_activity_reduction,
    lung_dose_gy,
    mass_kg_from_volume_ml,
    mird_activity_for_dose_gbq,
    mird_dose_gy,
    normal_liver_limit_gy,
    partition_doses,
    resin_bsa_activity,
    tumour_dose_target_gy,
)
from clinical.errors import ClinicalRuleError, LungShuntTooHighError

HAND = 0.01  # worked examples are compared to two decimals, as a physicist would write them


def test_du_bois_bsa_for_a_175_cm_80_kg_patient() -> None:
    expected = 0.20247 * 1.75**0.725 * 80**0.425  # 1.956 m2
    assert bsa_du_bois_m2(175, 80) == pytest.approx(expected, abs=1e-12)
    assert bsa_du_bois_m2(175, 80) == pytest.approx(1.96, abs=HAND)


def test_resin_bsa_activity_for_a_whole_liver_treatment() -> None:
    # (1.8 - 0.2) + 300/1500 = 1.8 GBq; LSF 5% needs no reduction.
    plan = resin_bsa_activity(
        1.8, tumour_volume_ml=300, liver_volume_ml=1500, lung_shunt_fraction=0.05
    )
    assert plan.whole_liver_activity_gbq == pytest.approx(1.8, abs=HAND)
    assert plan.perfused_fraction == 1.0
    assert plan.lsf_reduction == 0.0
    assert plan.activity_gbq == pytest.approx(1.8, abs=HAND)


def test_resin_bsa_activity_for_a_right_lobe_with_a_12_percent_shunt() -> None:
    # 1.8 GBq x 750/1500 perfused = 0.9 GBq; LSF 12% takes 20% off: 0.72 GBq.
    plan = resin_bsa_activity(1.8, 300, 1500, perfused_volume_ml=750, lung_shunt_fraction=0.12)
    assert plan.perfused_fraction == 0.5
    assert plan.lsf_reduction == 0.2
    assert plan.activity_gbq == pytest.approx(0.72, abs=HAND)


# SIR-Spheres (resin) instructions for use, BSA method: LSF < 10% full activity; 10% to 15%
# reduce by 20%; 15% to 20% reduce by 40%; > 20% do not treat. Each band takes its lower bound.
@pytest.mark.parametrize(
    ("lsf", "reduction"),
    [
        (0.0, 0.0),
        (0.0999, 0.0),
        (0.10, 0.2),  # IFU: full activity only *below* 10%
        (0.1499, 0.2),
        (0.15, 0.4),  # exactly 15% is the 40% band
        (0.20, 0.4),  # exactly 20% can still be treated, with 40% less activity
    ],
)
def test_lung_shunt_bands_follow_the_sir_spheres_ifu(lsf: float, reduction: float) -> None:
    assert lsf_activity_reduction(lsf) == reduction


def test_a_lung_shunt_above_20_percent_is_not_treated_by_the_bsa_method() -> None:
    with pytest.raises(
        LungShuntTooHighError,
        match=r"lung shunt fraction 20\.1% is above the limit of 20%: do not treat",
    ):
        lsf_activity_reduction(0.201)
    with pytest.raises(LungShuntTooHighError):
        resin_bsa_activity(1.8, 300, 1500, lung_shunt_fraction=0.25)


@given(st.floats(0, 0.2), st.floats(0, 0.2))
def test_more_lung_shunt_never_means_less_reduction(a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert lsf_activity_reduction(low) <= lsf_activity_reduction(high)


def test_resin_bsa_refuses_impossible_volumes() -> None:
    with pytest.raises(ClinicalRuleError, match="tumour volume"):
        resin_bsa_activity(1.8, 1600, 1500)
    with pytest.raises(ClinicalRuleError, match="perfused volume"):
        resin_bsa_activity(1.8, 300, 1500, perfused_volume_ml=1600)


def test_single_compartment_mird_dose() -> None:
    # 49.67 x 2 GBq x (1 - 0.05) / 1.6 kg = 58.98 Gy
    assert mird_dose_gy(2.0, 1.6, 0.05) == pytest.approx(58.98, abs=HAND)


def test_mird_activity_for_a_120_gy_target() -> None:
    # 120 x 0.5 / (49.67 x 0.9) = 1.34 GBq
    activity = mird_activity_for_dose_gbq(120, 0.5, 0.10)
    assert activity == pytest.approx(1.34, abs=HAND)
    assert mird_dose_gy(activity, 0.5, 0.10) == pytest.approx(120, abs=1e-9)


def test_lung_dose_uses_a_1_kg_lung_unless_told_otherwise() -> None:
    # 49.67 x 3 GBq x 0.10 / 1 kg = 14.90 Gy; with a 0.8 kg lung 18.63 Gy
    assert lung_dose_gy(3.0, 0.10) == pytest.approx(14.90, abs=HAND)
    assert lung_dose_gy(3.0, 0.10, lung_mass_kg=0.8) == pytest.approx(18.63, abs=HAND)


def test_partition_model_doses() -> None:
    # 49.67 x 2 x 0.95 x 4 / (4 x 0.2 + 1.3) = 179.76 Gy tumour; / 4 = 44.94 Gy normal liver
    doses = partition_doses(
        2.0, tnr=4, tumour_mass_kg=0.2, normal_mass_kg=1.3, lung_shunt_fraction=0.05
    )
    assert doses.tumour_gy == pytest.approx(179.76, abs=HAND)
    assert doses.normal_liver_gy == pytest.approx(44.94, abs=HAND)
    assert doses.lung_gy == pytest.approx(4.97, abs=HAND)


def test_partition_activity_for_a_150_gy_tumour_dose() -> None:
    # 150 x 2.1 / (49.67 x 0.95 x 4) = 1.67 GBq
    activity = activity_for_tumour_dose_gbq(
        150, tnr=4, tumour_mass_kg=0.2, normal_mass_kg=1.3, lung_shunt_fraction=0.05
    )
    assert activity == pytest.approx(1.67, abs=HAND)
    assert partition_doses(activity, 4, 0.2, 1.3, 0.05).tumour_gy == pytest.approx(150, abs=1e-9)


def test_holmium_standard_activity_gives_about_60_gy() -> None:
    activity = ho166_standard_activity_gbq(1.5)  # 3.78 x 1.5 = 5.67 GBq
    assert activity == pytest.approx(5.67, abs=HAND)
    assert ho166_dose_gy(activity, 1.5) == pytest.approx(59.99, abs=HAND)  # 15.87 x 3.78
    assert ho166_activity_for_dose_gbq(60, 1.5) == pytest.approx(5.67, abs=HAND)


def test_holmium_uses_its_own_dose_constant() -> None:
    assert dose_constant(Device.HO166) == 15.87
    assert dose_constant(Device.GLASS_Y90) == 49.67
    assert lung_dose_gy(2.0, 0.05, device=Device.HO166) == pytest.approx(1.59, abs=HAND)
    assert device_nuclide(Device.RESIN_Y90) is Nuclide.Y90
    assert device_nuclide(Device.HO166) is Nuclide.HO166


def test_ct_volume_to_mass_uses_the_configured_density() -> None:
    assert mass_kg_from_volume_ml(1500) == pytest.approx(1.545, abs=1e-9)
    assert mass_kg_from_volume_ml(1500, DosimetryLimits(tissue_density_g_per_ml=1.0)) == 1.5


def test_the_manufacturers_rounded_constant_is_a_config_choice() -> None:
    limits = DosimetryLimits(y90_dose_constant_gy_kg_per_gbq=50)
    assert mird_dose_gy(1.0, 1.0, limits=limits) == 50


@pytest.mark.parametrize(
    ("nuclide", "half_life"), [(Nuclide.Y90, 64.2), (Nuclide.HO166, 26.8), (Nuclide.TC99M, 6.0)]
)
def test_one_half_life_halves_the_activity(nuclide: Nuclide, half_life: float) -> None:
    assert decay_corrected_activity_gbq(3.0, nuclide, half_life) == pytest.approx(1.5, abs=1e-12)
    assert decay_factor(nuclide, timedelta(hours=half_life)) == pytest.approx(0.5, abs=1e-12)


def test_y90_decays_about_23_percent_in_a_day() -> None:
    # 2^(-24/64.2) = 0.7718; 2.0 GBq calibrated yesterday is 1.54 GBq today.
    assert decay_corrected_activity_gbq(2.0, Nuclide.Y90, timedelta(days=1)) == pytest.approx(
        1.54, abs=HAND
    )
    assert decay_factor(Nuclide.Y90, -64.2) == pytest.approx(2.0)


def test_cumulative_lung_dose_adds_earlier_treatments() -> None:
    assert cumulative_lung_dose_gy(12.5, [20.0, 10.0]) == 42.5
    with pytest.raises(ClinicalRuleError):
        cumulative_lung_dose_gy(-1.0)


def _plan(**overrides: object) -> PlanSafetyInputs:
    values: dict[str, object] = {
        "device": Device.RESIN_Y90,
        "method": DosimetryMethod.PARTITION,
        "predicted_lung_dose_gy": 10.0,
        "predicted_normal_liver_dose_gy": 35.0,
    }
    values.update(overrides)
    return PlanSafetyInputs.model_validate(values)


def test_a_plan_within_every_limit_is_safe() -> None:
    assert check_plan_safety(_plan()) == []


def test_a_lung_dose_over_30_gy_is_refused_with_value_and_limit() -> None:
    [violation] = check_plan_safety(_plan(predicted_lung_dose_gy=31.2))
    assert violation.code == "lung_dose_single"
    assert violation.field == "predicted_lung_dose_gy"
    assert (violation.value, violation.limit) == (31.2, 30.0)
    assert (
        violation.message
        == "predicted lung dose 31.20 Gy exceeds the single-treatment limit of 30 Gy"
    )


def test_a_lung_dose_of_exactly_30_gy_is_allowed() -> None:
    assert check_plan_safety(_plan(predicted_lung_dose_gy=30.0)) == []


def test_the_cumulative_lung_limit_counts_earlier_treatments() -> None:
    assert check_plan_safety(_plan(predicted_lung_dose_gy=20.0), [30.0]) == []  # exactly 50
    [violation] = check_plan_safety(_plan(predicted_lung_dose_gy=20.5), [15.0, 15.0])
    assert violation.code == "lung_dose_cumulative"
    assert violation.value == 50.5
    assert violation.message.startswith("cumulative lung dose 50.50 Gy")
    assert violation.message.endswith("exceeds the cumulative limit of 50 Gy")


@pytest.mark.parametrize(
    ("device", "pretreated", "limit"),
    [
        (Device.RESIN_Y90, False, 40.0),
        (Device.RESIN_Y90, True, 30.0),
        (Device.GLASS_Y90, False, 75.0),
        (Device.GLASS_Y90, True, 75.0),
        (Device.HO166, False, 60.0),
    ],
)
def test_normal_liver_limit_depends_on_device_and_pretreatment(
    device: Device, pretreated: bool, limit: float
) -> None:
    assert normal_liver_limit_gy(device, pretreated) == limit
    at_limit = _plan(
        device=device, pretreated_liver=pretreated, predicted_normal_liver_dose_gy=limit
    )
    assert check_plan_safety(at_limit) == []
    over = _plan(
        device=device, pretreated_liver=pretreated, predicted_normal_liver_dose_gy=limit + 0.5
    )
    [violation] = check_plan_safety(over)
    assert violation.code == "normal_liver_dose"
    assert violation.limit == limit


def test_normal_liver_messages_name_device_and_pretreatment() -> None:
    [resin] = check_plan_safety(_plan(predicted_normal_liver_dose_gy=42.0))
    assert (
        resin.message
        == "predicted normal-liver dose 42.00 Gy exceeds the resin Y-90 limit of 40 Gy"
    )
    [pretreated] = check_plan_safety(
        _plan(predicted_normal_liver_dose_gy=35.0, pretreated_liver=True)
    )
    assert pretreated.message.endswith("limit of 30 Gy for a pretreated liver")


def test_a_bsa_plan_with_a_shunt_over_20_percent_is_refused() -> None:
    plan = _plan(
        method=DosimetryMethod.BSA, predicted_normal_liver_dose_gy=None, lung_shunt_fraction=0.21
    )
    [violation] = check_plan_safety(plan)
    assert violation.code == "lung_shunt_above_bsa_limit"
    assert violation.message == "lung shunt fraction 21.0% exceeds the BSA-method limit of 20%"


def test_every_violation_is_reported_together() -> None:
    plan = _plan(predicted_lung_dose_gy=35.0, predicted_normal_liver_dose_gy=45.0)
    codes = [v.code for v in check_plan_safety(plan, [20.0])]
    assert codes == ["lung_dose_single", "lung_dose_cumulative", "normal_liver_dose"]


positive = st.floats(min_value=0.01, max_value=20, allow_nan=False)
lsf = st.floats(min_value=0, max_value=0.5)


@settings(max_examples=75)
@given(positive, positive, positive, lsf)
def test_dose_rises_with_activity_and_falls_with_mass(
    a1: float, a2: float, mass: float, shunt: float
) -> None:
    low, high = sorted((a1, a2))
    assert mird_dose_gy(low, mass, shunt) <= mird_dose_gy(high, mass, shunt)
    assert mird_dose_gy(high, mass * 2, shunt) <= mird_dose_gy(high, mass, shunt)
    assert lung_dose_gy(low, shunt) <= lung_dose_gy(high, shunt)


@settings(max_examples=75)
@given(positive, st.floats(min_value=0.5, max_value=20), positive, positive)
def test_partition_normal_dose_is_tumour_dose_over_tnr(
    activity: float, tnr: float, mt: float, mn: float
) -> None:
    doses = partition_doses(activity, tnr, mt, mn)
    assert doses.normal_liver_gy * tnr == pytest.approx(doses.tumour_gy, rel=1e-12)
    # All activity is in the liver: the mass-weighted mean is the single-compartment dose.
    mean = (doses.tumour_gy * mt + doses.normal_liver_gy * mn) / (mt + mn)
    assert mean == pytest.approx(mird_dose_gy(activity, mt + mn), rel=1e-9)


@given(st.floats(min_value=0, max_value=1000))
def test_activity_only_ever_decays(hours: float) -> None:
    assert 0 < decay_factor(Nuclide.Y90, hours) <= 1


def test_bad_inputs_are_refused_not_computed() -> None:
    with pytest.raises(ClinicalRuleError, match="mass must be greater than 0"):
        mird_dose_gy(1.0, 0.0)
    with pytest.raises(ClinicalRuleError, match="lung shunt fraction"):
        mird_activity_for_dose_gbq(100, 1.0, 1.0)
    with pytest.raises(ClinicalRuleError, match="activity must not be negative"):
        lung_dose_gy(-1.0, 0.1)


def test_tumour_dose_targets_are_device_specific_and_optional() -> None:
    assert tumour_dose_target_gy(Device.RESIN_Y90) == 100
    assert tumour_dose_target_gy(Device.GLASS_Y90) == 205
    assert tumour_dose_target_gy(Device.HO166) is None

"""The configuration carries every threshold, with the DOMAIN.md defaults."""

import pytest
from pydantic import ValidationError

from clinical.config import (
    ClinicalConfig,
    ClockConfig,
    CtcaeConfig,
    DosimetryLimits,
    LsfBand,
    ReferenceRange,
)
from clinical.enums import ClockKind, Device, LabTest, Nuclide


def test_the_defaults_are_the_published_values() -> None:
    config = ClinicalConfig()
    assert config.eligibility.max_bilirubin_umol_l == 34.2
    assert config.eligibility.min_platelets_10e9_l == 50
    assert config.dosimetry.y90_dose_constant_gy_kg_per_gbq == 49.67
    assert config.dosimetry.ho166_dose_constant_gy_kg_per_gbq == 15.87
    assert config.dosimetry.max_lung_dose_single_gy == 30
    assert config.dosimetry.max_lung_dose_cumulative_gy == 50
    assert config.dosimetry.normal_liver_limit_gy[Device.GLASS_Y90] == 75
    assert config.dosimetry.half_life_hours[Nuclide.Y90] == 64.2
    assert config.clocks.target_days[ClockKind.DAYS_62] == 62
    assert config.liver_toxicity.reild_window_end_days == 122


def test_a_centre_config_survives_a_json_round_trip_into_a_workflow() -> None:
    config = ClinicalConfig(dosimetry=DosimetryLimits(max_lung_dose_single_gy=25))
    assert ClinicalConfig.model_validate_json(config.model_dump_json()) == config


def test_configuration_is_frozen_and_typos_fail_loudly() -> None:
    config = ClinicalConfig()
    with pytest.raises(ValidationError):
        config.eligibility.max_inr = 2.0  # type: ignore[misc, unused-ignore]
    with pytest.raises(ValidationError):
        DosimetryLimits.model_validate({"max_lung_dose_singel_gy": 20})


def test_lsf_bands_must_ascend() -> None:
    with pytest.raises(ValidationError, match="ascend"):
        DosimetryLimits(
            lsf_bands=(
                LsfBand(from_lsf=0.0, activity_reduction=0.0),
                LsfBand(from_lsf=0.15, activity_reduction=0.4),
                LsfBand(from_lsf=0.1, activity_reduction=0.2),
            )
        )


def test_a_reference_range_must_be_ordered() -> None:
    with pytest.raises(ValidationError):
        ReferenceRange(lower=50, upper=35)


def test_incomplete_tables_fail_when_the_config_is_loaded() -> None:
    with pytest.raises(ValidationError, match="ho166"):
        DosimetryLimits(normal_liver_limit_gy={Device.RESIN_Y90: 40.0})
    with pytest.raises(ValidationError, match="31-day"):
        ClockConfig(target_days={ClockKind.DAYS_62: 62})
    with pytest.raises(ValidationError, match="platelets"):
        CtcaeConfig(reference_ranges={LabTest.ALT: ReferenceRange(lower=0, upper=40)})
    with pytest.raises(ValidationError, match="ascending"):
        ClockConfig(ptl_bucket_upper_days=(62, 28))


def test_lsf_bands_recorded_by_upper_bound_in_old_histories_are_read_as_the_ifu_table() -> None:
    # Workflow inputs recorded before the SIR-Spheres IFU table named each band's upper bound.
    old = {
        "lsf_bands": [
            {"max_lsf": 0.10, "activity_reduction": 0.0},
            {"max_lsf": 0.15, "activity_reduction": 0.2},
            {"max_lsf": 0.20, "activity_reduction": 0.4},
        ]
    }
    assert DosimetryLimits.model_validate(old) == DosimetryLimits()

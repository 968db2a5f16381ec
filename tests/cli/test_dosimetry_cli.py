"""`sirt dosimetry` refuses what the dosimetry Update refuses, in the same words, and exits 1.

The inputs are the issue's web-form measurement: 10 GBq, LSF 0.08, a typed 5 Gy lung dose.
"""

from typer.testing import CliRunner

from cli.main import app
from tests.api.test_dosimetry_refusals import REFUSAL

runner = CliRunner()


def sirt_dosimetry(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["dosimetry", *args])
    return result.exit_code, result.stdout, result.stderr


def test_a_typed_lung_dose_below_the_computed_one_exits_1_with_the_updates_message() -> None:
    code, out, err = sirt_dosimetry(
        "--device", "resin_y90", "--method", "mird", "--lsf", "0.08", "--activity-gbq", "10",
        "--perfused-volume-ml", "1800", "--predicted-lung-dose-gy", "5",
    )  # fmt: skip
    assert code == 1
    assert err == f"mird: refused: Lung dose (Gy): {REFUSAL}\n"
    assert f"WOULD BE REFUSED: predicted_lung_dose_gy: {REFUSAL}" in out


def test_a_plan_the_update_would_accept_exits_0() -> None:
    # Glass, 120 Gy to 1 kg perfused liver by MIRD: within the TheraSphere 80-150 Gy range.
    code, out, err = sirt_dosimetry(
        "--device", "glass_y90", "--lsf", "0.05", "--target-dose-gy", "120",
        "--perfused-mass-kg", "1.0",
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert "perfused-volume dose     120.00 Gy" in out and "REFUSED" not in out


def test_bsa_with_a_glass_device_is_refused_as_the_update_refuses_it() -> None:
    code, _, err = sirt_dosimetry(
        "--device", "glass_y90", "--method", "bsa", "--lsf", "0.05", "--activity-gbq", "2",
        "--liver-mass-kg", "1.6",
    )  # fmt: skip
    assert code == 1
    assert err.startswith(
        "bsa: refused: Method: the bsa method is not used with glass_y90 (the BSA method is for "
        "resin Y-90 only)"
    )


def test_a_height_in_metres_is_refused_with_a_unit_hint() -> None:
    # Measured on main: --height-cm 1.75 gave a BSA of 0.066 m2, 0.116 GBq and exit 0.
    code, _, err = sirt_dosimetry(
        "--device", "resin_y90", "--lsf", "0.05", "--height-cm", "1.75", "--weight-kg", "80",
        "--liver-mass-kg", "1.6", "--tumour-mass-kg", "0.3",
    )  # fmt: skip
    assert code == 2
    assert err == (
        "Height (cm) (height_cm): 1.75 cm is outside the plausible range 100-250 cm; that looks "
        "like metres: multiply by 100\n"
    )


def test_a_liver_mass_in_grams_and_nan_are_refused() -> None:
    code, _, err = sirt_dosimetry("--device", "ho166", "--lsf", "0.05", "--liver-mass-kg", "1600")
    assert code == 2 and "that looks like grams: divide by 1000" in err
    code, _, err = sirt_dosimetry("--device", "ho166", "--lsf", "nan", "--liver-mass-kg", "1.6")
    assert code == 2 and err.startswith(
        "Lung shunt fraction (0-1) (lung_shunt_fraction): Input should be a finite number"
    )


def test_a_nan_prior_lung_dose_is_refused_not_passed() -> None:
    # Measured on main: NaN passed as a prior lung dose (NaN > 50 is False).
    code, _, err = sirt_dosimetry(
        "--device", "resin_y90", "--lsf", "0.05", "--activity-gbq", "1.5",
        "--perfused-mass-kg", "1.4", "--prior-lung-dose-gy", "nan",
    )  # fmt: skip
    assert code == 2
    assert err.startswith(
        "Prior lung doses (Gy) > row 1 (prior_lung_doses_gy.0): Input should be a finite number"
    )

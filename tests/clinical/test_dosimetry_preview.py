"""`sirt dosimetry`: worked examples against the published formulas, and its errors."""

import json

import pytest
import typer
from typer.testing import CliRunner

from cli.dosimetry import dosimetry

app = typer.Typer()
app.command()(dosimetry)
runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_mird_partition_and_bsa_match_the_formulas() -> None:
    code, out, _ = run(
        "--device", "resin_y90", "--lsf", "0.1", "--activity-gbq", "1.5",
        "--perfused-mass-kg", "1.5", "--tumour-mass-kg", "0.3", "--liver-mass-kg", "1.8",
        "--tnr", "3", "--height-cm", "175", "--weight-kg", "80", "--json",
    )  # fmt: skip
    assert code == 0
    by_method = {r["method"]: r for r in json.loads(out)}
    mird = by_method["mird"]
    assert mird["perfused_dose_gy"] == pytest.approx(49.67 * 1.5 * 0.9 / 1.5, abs=0.01)
    assert mird["lung_dose_gy"] == pytest.approx(49.67 * 1.5 * 0.1 / 1.0, abs=0.01)
    partition = by_method["partition"]
    tumour = 49.67 * 1.5 * 0.9 * 3 / (3 * 0.3 + 1.2)
    assert partition["tumour_dose_gy"] == pytest.approx(tumour, abs=0.01)
    assert partition["normal_liver_dose_gy"] == pytest.approx(tumour / 3, abs=0.01)
    bsa = 0.20247 * 1.75**0.725 * 80**0.425
    expected = ((bsa - 0.2) + 0.3 / 1.8) * (1.5 / 1.8) * 0.8  # LSF 10%: the IFU's 20% less
    assert by_method["bsa"]["activity_gbq"] == pytest.approx(expected, abs=0.01)


def test_a_preview_over_the_lung_limit_shows_the_updates_refusal() -> None:
    code, out, _ = run(
        "--device", "glass_y90", "--lsf", "0.2", "--activity-gbq", "3.5",
        "--perfused-mass-kg", "1.2", "--prior-lung-dose-gy", "20",
    )  # fmt: skip
    assert code == 1
    assert "  lung dose                 34.77 Gy" in out
    assert (
        "WOULD BE REFUSED: predicted_lung_dose_gy: predicted lung dose 34.77 Gy exceeds the "
        "single-treatment " in out
    )
    assert "cumulative lung dose 54.77 Gy" in out


def test_ho166_standard_activity_is_3_78_gbq_per_kg() -> None:
    code, out, _ = run("--device", "ho166", "--lsf", "0.05", "--liver-mass-kg", "1.6", "--json")
    assert code == 0
    [standard] = [r for r in json.loads(out) if r["method"] == "ho166_standard"]
    assert standard["activity_gbq"] == pytest.approx(3.78 * 1.6, abs=0.01)
    assert standard["perfused_dose_gy"] == pytest.approx(15.87 * 3.78 * 0.95, abs=0.01)


def test_missing_masses_and_a_lung_shunt_over_20_percent_are_clear_errors() -> None:
    code, _, err = run("--device", "resin_y90", "--lsf", "0.1", "--activity-gbq", "1")
    assert code == 2
    assert "Perfused mass (kg) (perfused_mass_kg): give the perfused or the whole-liver mass" in err
    code, _, err = run(
        "--device", "resin_y90", "--lsf", "0.25", "--liver-mass-kg", "1.8",
        "--tumour-mass-kg", "0.3", "--height-cm", "170", "--weight-kg", "70",
    )  # fmt: skip
    assert code == 1 and err.startswith("refused: ") and "20" in err
    assert "Traceback" not in err

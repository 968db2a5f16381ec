"""Bad input and unreachable services end in a message and a non-zero exit, never a traceback."""

import base64
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
import typer
import typer.core
import typer.main
from typer.testing import CliRunner, Result

from api.accounts import create_user, issue_token
from cli.main import app
from core.db import get_engine, migrate
from core.devserver import free_port
from core.pathways import STEPS
from models.vocab import Stage
from tests import payloads
from tests.conftest import TEST_KEY

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """An isolated configuration: nothing listens on the Temporal port; a coordinator's
    token in SIRT_TOKEN (changes run as a named user)."""
    url = f"sqlite:///{tmp_path / 'readmodel.db'}"
    migrate(url)
    create_user(get_engine(url), "coordinator", "coordinator", "coordinator-pw")
    return {
        "SIRT_DATA_DIR": str(tmp_path / "data"),
        "SIRT_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "SIRT_TASK_QUEUE": "tq-cli-errors",
        "DATABASE_URL": url,
        "SIRT_ENCRYPTION_KEY": base64.b64encode(TEST_KEY).decode(),
        "SIRT_TOKEN": issue_token(get_engine(url), "coordinator"),
    }


def patient_file(tmp_path: Path, **fields: str) -> str:
    """The patient's identity as a file (never on the command line)."""
    path = tmp_path / f"patient-{len(list(tmp_path.iterdir()))}.json"
    path.write_text(json.dumps(fields))
    return str(path)


PATIENT = {"family_name": "Testpatient", "given_name": "Zebedee", "date_of_birth": "1958-03-14"}


def invoke(env: dict[str, str], *args: str, input: str | None = None) -> Result:
    result = runner.invoke(app, list(args), env=env, input=input)
    assert "Traceback" not in result.output
    return result


def assert_clean_failure(result: Result, code: int) -> None:
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit)  # a message, not an escaping exception
    assert "Error: " in result.stderr


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def referral_json(**patient: str) -> str:
    data = payloads.referral().model_dump(mode="json")
    data["patient"].update(patient)
    return json.dumps(data)


REFERRAL_FLAGS = [
    "--primary-site",
    "midgut",
    "--grade",
    "2",
    "--ki67",
    "8",
    "--cga",
    "420",
    "--referrer",
    "Dr A Referrer",
    "--trust",
    "Example NHS Foundation Trust",
]


def test_refer_bad_json(env: dict[str, str], tmp_path: Path) -> None:
    path = write(tmp_path, "referral.json", '{"patient": {"nhs_number": ')
    result = invoke(env, "refer", "--file", str(path))
    assert_clean_failure(result, 2)
    assert "is not valid JSON" in result.stderr
    assert "line 1" in result.stderr


def test_refer_unreadable_file(env: dict[str, str], tmp_path: Path) -> None:
    result = invoke(env, "refer", "--file", str(tmp_path / "missing.json"))
    assert_clean_failure(result, 2)
    assert "cannot read" in result.stderr
    assert "missing.json" in result.stderr


def test_refer_json_not_an_object(env: dict[str, str], tmp_path: Path) -> None:
    result = invoke(env, "refer", "--file", str(write(tmp_path, "r.json", "[1, 2]")))
    assert_clean_failure(result, 2)
    assert "JSON object" in result.stderr


def test_refer_wrong_check_digit_in_file(env: dict[str, str], tmp_path: Path) -> None:
    path = write(tmp_path, "referral.json", referral_json(nhs_number="943 476 5918"))
    result = invoke(env, "refer", "--file", str(path))
    assert_clean_failure(result, 2)
    assert "(patient.nhs_number): NHS number check digit is wrong" in result.stderr


def test_refer_wrong_check_digit_in_the_patient_file(env: dict[str, str], tmp_path: Path) -> None:
    patient = patient_file(tmp_path, nhs_number="9434765918", **PATIENT)
    result = invoke(env, "refer", "--patient", patient, *REFERRAL_FLAGS)
    assert_clean_failure(result, 2)
    assert "Patient > NHS number (patient.nhs_number):" in result.stderr
    assert "check digit" in result.stderr


def test_refer_reports_every_bad_field(env: dict[str, str], tmp_path: Path) -> None:
    patient = patient_file(tmp_path, nhs_number="943 476 5919")
    result = invoke(env, "refer", "--patient", patient, "--grade", "7", "--ki67", "-1")
    assert_clean_failure(result, 2)
    # Each named in words (the label map the pages and the API use), with its payload path.
    for field in (
        "Patient > Family name (patient.family_name)",
        "Patient > Given name (patient.given_name)",
        "WHO grade (grade)",
        "Ki-67 (%) (ki67_pct)",
    ):
        assert f"{field}: " in result.stderr


def test_refer_refuses_a_date_of_birth_in_the_future(env: dict[str, str], tmp_path: Path) -> None:
    born = {**PATIENT, "date_of_birth": "14/03/2099"}
    patient = patient_file(tmp_path, nhs_number="943 476 5919", **born)
    result = invoke(env, "refer", "--patient", patient, *REFERRAL_FLAGS)
    assert_clean_failure(result, 2)
    assert (
        "Patient > Date of birth (patient.date_of_birth): date of birth 14/03/2099 is in the "
        "future" in result.stderr
    )
    assert result.stdout == ""


def test_refer_nothing_given(env: dict[str, str]) -> None:
    result = invoke(env, "refer")
    assert_clean_failure(result, 2)
    assert "--file" in result.stderr


def test_refer_without_temporal(env: dict[str, str], tmp_path: Path) -> None:
    patient = patient_file(tmp_path, nhs_number="943 476 5919", **PATIENT)
    result = invoke(env, "refer", "--patient", patient, *REFERRAL_FLAGS)
    assert_clean_failure(result, 1)
    assert "is `sirt dev` running?" in result.stderr
    assert result.stdout == ""  # no pathway id for a pathway that never started


def test_refer_without_payload_key_does_not_make_one(env: dict[str, str], tmp_path: Path) -> None:
    # A fresh key would start pathways the running worker cannot decrypt.
    del env["SIRT_ENCRYPTION_KEY"]
    patient = patient_file(tmp_path, nhs_number="943 476 5919", **PATIENT)
    result = invoke(env, "refer", "--patient", patient, *REFERRAL_FLAGS)
    assert_clean_failure(result, 1)
    assert "no payload key" in result.stderr
    assert not (Path(env["SIRT_DATA_DIR"]) / "payload.key").exists()


def test_submit_unknown_step_lists_steps(env: dict[str, str], tmp_path: Path) -> None:
    path = write(tmp_path, "p.json", "{}")
    result = invoke(env, "submit", "teleport", "pathway-x", "--file", str(path))
    assert_clean_failure(result, 2)
    assert "unknown step 'teleport'" in result.stderr
    for step in STEPS:
        assert step in result.stderr


def test_submit_help_lists_steps(env: dict[str, str]) -> None:
    result = invoke(env, "submit", "--help")
    assert result.exit_code == 0
    flat = " ".join(result.output.split())
    for step in STEPS:
        assert step in flat


def test_submit_invalid_payload_names_fields(env: dict[str, str], tmp_path: Path) -> None:
    path = write(tmp_path, "p.json", json.dumps({"complete": "perhaps", "note": "x" * 3000}))
    result = invoke(env, "submit", "triage", "pathway-x", "--file", str(path))
    assert_clean_failure(result, 2)
    assert "The referral is complete (complete): " in result.stderr
    assert "Note (note): " in result.stderr


def test_submit_nested_field_path(env: dict[str, str], tmp_path: Path) -> None:
    data = payloads.mdt(date(2026, 5, 1))
    data["labs"]["bilirubin_umol_l"] = "high"
    result = invoke(
        env,
        "submit",
        "mdt-decision",
        "pathway-x",
        "-f",
        str(write(tmp_path, "m", json.dumps(data))),
    )
    assert_clean_failure(result, 2)
    # In the words the form and the API's 422 use, with the path typed in the file.
    assert "Blood results > Bilirubin (µmol/L) (labs.bilirubin_umol_l): " in result.stderr


def test_submit_without_temporal(env: dict[str, str], tmp_path: Path) -> None:
    path = write(tmp_path, "p.json", json.dumps({"complete": True}))
    result = invoke(env, "submit", "triage", "pathway-x", "--file", str(path))
    assert_clean_failure(result, 1)
    assert "is `sirt dev` running?" in result.stderr


def test_list_unknown_stage(env: dict[str, str]) -> None:
    result = invoke(env, "list", "--stage", "NOPE")
    assert_clean_failure(result, 2)
    assert "unknown stage 'NOPE'" in result.stderr
    for stage in Stage:
        assert stage.value in result.stderr


def test_list_without_read_model(env: dict[str, str], tmp_path: Path) -> None:
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'never-made.db'}"
    result = invoke(env, "list")
    assert_clean_failure(result, 1)
    assert "no read model" in result.stderr
    assert not Path(env["DATABASE_URL"].removeprefix("sqlite:///")).exists()


def test_status_unknown_pathway(env: dict[str, str]) -> None:
    migrate(env["DATABASE_URL"])
    result = invoke(env, "status", "pathway-does-not-exist")
    assert_clean_failure(result, 1)
    assert "unknown pathway 'pathway-does-not-exist'" in result.stderr


def test_list_empty_and_case_insensitive_stage(env: dict[str, str]) -> None:
    migrate(env["DATABASE_URL"])
    result = invoke(env, "list", "--stage", "mdt_review")
    assert result.exit_code == 0, result.output
    assert "No pathways match." in result.stdout
    assert invoke(env, "list", "--json").stdout.strip() == "[]"


def test_steps_schema(env: dict[str, str]) -> None:
    result = invoke(env, "steps", "triage")
    assert result.exit_code == 0
    assert "complete" in json.loads(result.stdout)["properties"]
    assert_clean_failure(invoke(env, "steps", "nope"), 2)


def test_installed_entry_point_exits_with_the_code_and_flushes(env: dict[str, str]) -> None:
    # The real `sirt` script ends with os._exit: output must still arrive, codes must hold.
    sirt = str(Path(sys.executable).parent / "sirt")
    full_env = {**os.environ, **env}
    bad = subprocess.run(
        [sirt, "list", "--stage", "NOPE"], env=full_env, capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2
    assert "unknown stage 'NOPE'" in bad.stderr
    good = subprocess.run([sirt, "steps"], env=full_env, capture_output=True, text=True, timeout=60)
    assert good.returncode == 0
    assert "mdt-decision" in good.stdout


def test_every_command_and_option_has_help(env: dict[str, str]) -> None:
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    assert {"dev", "refer", "status", "list", "submit", "steps", "dosimetry"} <= set(group.commands)
    ours = ("dev", "refer", "status", "list", "submit", "steps")
    for name in ours:
        command = group.commands[name]
        assert command.help, name
        for param in command.params:
            assert getattr(param, "help", None), f"{name} {param.name}"
        assert invoke(env, name, "--help").exit_code == 0

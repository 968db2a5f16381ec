"""CLI changes run as a named user, checked and audited like the API; the patient's identity
never goes on the command line.

Measured before: `sirt refer` and `sirt submit` ran as nobody and were not audited, and the
patient's name and NHS number were arguments, visible to every user in `ps`.
"""

import json
from pathlib import Path

from sqlmodel import Session, col, select

from api.accounts import create_user, issue_token
from core.db import get_engine
from models.users import AuditEventRow
from tests import payloads
from tests.cli.test_cli_errors import env, invoke, write

__all__ = ["env"]  # the isolated configuration fixture, shared

# The patient's identity as typed at the prompts, then the password.
PROMPTED = "943 476 5919\nTestpatient\nZebedee\n1958-03-14\n"


def trail(env: dict[str, str], action: str) -> list[tuple[str, str | None, str, str | None]]:
    with Session(get_engine(env["DATABASE_URL"])) as session:
        rows = session.exec(
            select(AuditEventRow)
            .where(col(AuditEventRow.action) == action)
            .order_by(col(AuditEventRow.id))
        ).all()
        return [(r.username, r.role, r.outcome, r.detail) for r in rows]


def clinical_only(tmp_path: Path) -> str:
    data = payloads.referral().model_dump(mode="json")
    del data["patient"]
    return str(write(tmp_path, "clinical.json", json.dumps(data)))


def test_a_change_without_a_named_user_is_refused(env: dict[str, str], tmp_path: Path) -> None:
    del env["SIRT_TOKEN"]
    referral = write(tmp_path, "r.json", payloads.referral().model_dump_json())
    result = invoke(env, "refer", "--file", str(referral))
    assert result.exit_code == 3
    assert "say who you are: --as YOUR_LOGIN" in result.stderr
    booking = write(tmp_path, "b.json", json.dumps({"scheduled_on": "2031-01-01"}))
    submitted = invoke(env, "submit", "schedule-workup", "pathway-x", "--file", str(booking))
    assert submitted.exit_code == 3
    assert "say who you are" in submitted.stderr


def test_a_role_that_may_not_refer_is_refused_and_audited(
    env: dict[str, str], tmp_path: Path
) -> None:
    engine = get_engine(env["DATABASE_URL"])
    create_user(engine, "ops-user", "ops", "ops-password")
    env["SIRT_TOKEN"] = issue_token(engine, "ops-user")
    referral = write(tmp_path, "r.json", payloads.referral().model_dump_json())
    result = invoke(env, "refer", "--file", str(referral))
    assert result.exit_code == 3
    assert "your role (ops) may not do this (pathway:refer)" in result.stderr
    assert trail(env, "pathway:refer") == [("ops-user", "ops", "denied", "cli")]


def test_identity_is_prompted_for_and_the_attempt_is_audited_as_the_user(
    env: dict[str, str], tmp_path: Path
) -> None:
    del env["SIRT_TOKEN"]
    clinical = clinical_only(tmp_path)
    wrong = invoke(env, "refer", "--file", clinical, "--as", "coordinator", input=PROMPTED + "x\n")
    assert wrong.exit_code == 3
    assert "the username or password is not right" in wrong.stderr
    assert trail(env, "session:login") == [("coordinator", None, "failed", "cli")]

    result = invoke(
        env, "refer", "--file", clinical, "--as", "coordinator", input=PROMPTED + "coordinator-pw\n"
    )
    # Signed in and allowed; no Temporal is listening in this configuration.
    assert result.exit_code == 1
    assert "is `sirt dev` running?" in result.stderr
    assert trail(env, "pathway:refer") == [("coordinator", "coordinator", "error", "cli")]


def test_patient_identity_options_no_longer_exist(env: dict[str, str]) -> None:
    result = invoke(env, "refer", "--nhs-number", "943 476 5919")
    assert result.exit_code == 2
    assert "No such option" in result.output


def test_reconciling_an_hl7_message_runs_as_a_named_user_who_may_reconcile(
    env: dict[str, str],
) -> None:
    del env["SIRT_TOKEN"]
    anonymous = invoke(env, "hl7", "discard", "MSG0001", "--note", "another trust's patient")
    assert anonymous.exit_code == 3 and "say who you are" in anonymous.stderr
    engine = get_engine(env["DATABASE_URL"])
    create_user(engine, "ops-reader", "ops", "ops-password")
    env["SIRT_TOKEN"] = issue_token(engine, "ops-reader")
    for args in (
        ["unmatched"],
        ["link", "MSG0001", "pathway-x"],
        ["discard", "MSG0001", "--note", "n/a"],
    ):
        refused = invoke(env, "hl7", *args)
        assert refused.exit_code == 3
        assert "your role (ops) may not do this (intake:reconcile)" in refused.stderr
    assert trail(env, "intake:reconcile") == 3 * [("ops-reader", "ops", "denied", "cli")]

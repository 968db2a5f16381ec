"""The audit trail is append-only in PostgreSQL itself, and an admin can export it."""

import csv
import io

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from api import audit
from api.audit import Outcome
from models.vocab import Role
from tests.api.conftest import Api


async def test_the_database_refuses_to_change_or_delete_audit_rows(api: Api) -> None:
    audit.record(api.engine, "someone", "session:login", Outcome.FAILED)
    [row] = [e for e in api.audit(action="session:login") if e.username == "someone"][-1:]
    for statement in (
        "UPDATE audit_event SET outcome = 'ok' WHERE id = :id",
        "DELETE FROM audit_event WHERE id = :id",
    ):
        with (
            pytest.raises(DBAPIError, match="audit_event is append-only"),
            api.engine.begin() as conn,
        ):
            conn.execute(text(statement), {"id": row.id})
    with (
        pytest.raises(DBAPIError, match="audit_event is append-only: TRUNCATE refused"),
        api.engine.begin() as conn,
    ):
        conn.execute(text("TRUNCATE audit_event"))
    [again] = [e for e in api.audit(action="session:login") if e.id == row.id]
    assert again.outcome == "failed"


async def test_an_admin_exports_the_trail_as_formula_safe_csv(api: Api) -> None:
    pid = await api.refer()
    # A login attempt's username is whatever was typed: a spreadsheet must not run it.
    audit.record(api.engine, '=HYPERLINK("http://x","y")', "session:login", Outcome.FAILED)

    assert (await api.get(Role.OPS, "/audit/export.csv")).status_code == 403
    r = await api.get(Role.ADMIN, "/audit/export.csv")

    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["cache-control"] == "no-store"
    rows = list(csv.DictReader(io.StringIO(r.text)))
    referral = [x for x in rows if x["pathway_id"] == pid and x["action"] == "pathway:refer"]
    assert [(x["username"], x["role"], x["outcome"]) for x in referral] == [
        ("coordinator", "coordinator", "ok")
    ]
    assert referral[0]["at"].endswith("+00:00")
    assert '\'=HYPERLINK("http://x","y")' in [x["username"] for x in rows]
    assert not any(v.startswith(("=", "+", "@")) for x in rows for v in x.values())
    assert [(e.username, e.outcome) for e in api.audit(action="audit:view")][-1] == (
        "ops",
        "denied",
    )
    assert [(e.username, e.outcome) for e in api.audit(action="audit:export")][-1] == (
        "admin",
        "ok",
    )

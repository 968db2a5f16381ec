"""Authorisation: the full role x route matrix from the permission table, 401s, tokens, audit.

Routes are found by walking the app, and each route's action is read from its ``require``
dependency, so a new route is covered (and must declare an action) without editing this file.
"""

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlmodel import Session, col, select
from temporalio.testing import WorkflowEnvironment

from api.accounts import create_user, hash_token, issue_token
from api.deps import Require
from api.main import ROUTERS
from api.permissions import APP_ROLES, MATRIX, allowed, markdown_table, step_action
from core import clock
from core.db import get_engine
from core.pathways import STEPS
from models.users import ApiTokenRow, AuditEventRow, UserRow
from models.vocab import Role
from tests import payloads
from tests.api.conftest import (
    API,
    BASE,
    NO_SUCH_PATHWAY,
    ROLES,
    Api,
    Login,
    login,
    make_app,
)

PUBLIC = {
    "/login",
    "/logout",
    "/healthz",
    "/readyz",
    "/docs",
    "/docs/oauth2-redirect",
    "/docs/assets/{name}",
    "/favicon.ico",
    f"{API}/openapi.json",
}
ROOT = Path(__file__).resolve().parents[2]


def _routes() -> list[tuple[str, str, str]]:
    """(method, path, action) of every route of every router the app includes."""
    found = []
    for prefix, router in ROUTERS:
        for route in router.routes:
            assert isinstance(route, APIRoute)
            calls = [d.call for d in route.dependant.dependencies]
            actions = [c.action for c in calls if isinstance(c, Require)]
            action = actions[0] if len(actions) == 1 else f"{len(actions)} actions"
            found += [(m, prefix + route.path, action) for m in sorted(route.methods or ())]
    return found


ROUTES = _routes()
CASES = [(m, p, a, r) for m, p, a in ROUTES if p not in PUBLIC for r in ROLES]


def test_every_route_but_sign_in_declares_exactly_one_action() -> None:
    for method, path, action in ROUTES:
        if path in PUBLIC:
            continue
        assert action in MATRIX, f"{method} {path} declares {action}"


def test_every_step_has_a_matrix_row() -> None:
    assert {step_action(s) for s in STEPS} <= set(MATRIX)


def test_the_documented_matrix_is_the_enforced_one() -> None:
    doc = (ROOT / "docs" / "authorisation.md").read_text()
    assert markdown_table() in doc


def test_ops_and_admin_never_see_identity_and_only_mdt_decides() -> None:
    assert not allowed(Role.OPS, "patient:identity")
    assert not allowed(Role.ADMIN, "patient:identity")
    assert [r for r in APP_ROLES if allowed(r, "step:mdt-decision")] == [Role.MDT_CLINICIAN]
    assert [r for r in APP_ROLES if allowed(r, "step:dosimetry-plan")] == [Role.PHYSICIST]


def _url(path: str) -> str:
    return (
        path.replace("{pathway_id}", NO_SUCH_PATHWAY)
        .replace("{task_id}", "mdt_decision-1")
        .replace("{step}", "mdt-decision")
    )


@pytest.fixture(scope="module")
async def matrix_app(
    idle_workflow_env: WorkflowEnvironment,
    postgres_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> FastAPI:
    # No request in the matrix reaches Temporal: bodies are empty and the pathway unknown.
    return make_app(idle_workflow_env, postgres_url, "tq-matrix", tmp_path_factory.mktemp("matrix"))


@pytest.fixture(scope="module")
async def sessions(
    matrix_app: FastAPI, demo_users: dict[Role, Login]
) -> AsyncIterator[dict[Role | None, tuple[httpx.AsyncClient, str]]]:
    """A signed-in page client (and its CSRF token) per role; None: not signed in."""
    transport = httpx.ASGITransport(app=matrix_app)
    out: dict[Role | None, tuple[httpx.AsyncClient, str]] = {}
    for role in [*ROLES, None]:
        http = httpx.AsyncClient(transport=transport, base_url=BASE)
        token = await login(http, demo_users[role]) if role else ""
        out[role] = (http, token)
    yield out
    for http, _ in out.values():
        await http.aclose()


async def _call(
    http: httpx.AsyncClient, method: str, path: str, headers: dict[str, str], csrf: str
) -> httpx.Response:
    url = _url(path)
    if method == "GET":
        return await http.get(url, headers=headers)
    if path.startswith(API):
        return await http.request(method, url, json={}, headers=headers)
    return await http.request(method, url, data={"csrf_token": csrf}, headers=headers)


@pytest.mark.parametrize(("method", "path", "action", "role"), CASES)
async def test_role_route_matrix(
    sessions: dict[Role | None, tuple[httpx.AsyncClient, str]],
    tokens: dict[Role, str],
    method: str,
    path: str,
    action: str,
    role: Role,
) -> None:
    http, csrf = sessions[role]
    if path.startswith(API):
        r = await _call(http, method, path, {"Authorization": f"Bearer {tokens[role]}"}, "")
    else:
        r = await _call(http, method, path, {}, csrf)
    if allowed(role, action):
        assert r.status_code not in (401, 403), (r.status_code, r.text[:300])
        assert not r.headers.get("location", "").startswith("/login")
    else:
        assert r.status_code == 403, (r.status_code, r.text[:300])


@pytest.mark.parametrize(("method", "path", "action"), [c for c in ROUTES if c[1] not in PUBLIC])
async def test_unauthenticated(
    sessions: dict[Role | None, tuple[httpx.AsyncClient, str]],
    method: str,
    path: str,
    action: str,
) -> None:
    http, _ = sessions[None]
    r = await _call(http, method, path, {}, "")
    if path.startswith((API, "/codec/")):  # JSON callers: the API and the UI's codec calls
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == "Bearer"
    else:
        assert r.status_code == 303
        assert r.headers["location"].startswith("/login?next=")


# ------------------------------------------------------------------------------ tokens


@pytest.mark.parametrize(
    "header",
    ["Bearer nonsense", "Bearer ", "Basic Y29vcmRpbmF0b3I6Y29vcmRpbmF0b3ItZGVtbw==", "sirt_x"],
)
async def test_bad_credentials_are_401(api: Api, header: str) -> None:
    r = await api.http.get(f"{API}/pathways", headers={"Authorization": header})
    assert r.status_code == 401


async def test_tokens_are_stored_hashed_and_can_be_revoked(api: Api, postgres_url: str) -> None:
    engine = get_engine(postgres_url)
    create_user(engine, "integration-a", "coordinator", None, "EPR feed", replace=True)
    token = issue_token(engine, "integration-a", "epr")
    assert token.startswith("sirt_")
    with Session(engine) as session:
        row = session.exec(
            select(ApiTokenRow).where(col(ApiTokenRow.token_hash) == hash_token(token))
        ).one()
        assert token not in row.token_hash
    headers = {"Authorization": f"Bearer {token}"}
    assert (await api.http.get(f"{API}/worklist", headers=headers)).status_code == 200
    with Session(engine) as session:
        stored = session.get(ApiTokenRow, row.id)
        assert stored is not None
        stored.revoked_at = clock.now()
        session.add(stored)
        session.commit()
    assert (await api.http.get(f"{API}/worklist", headers=headers)).status_code == 401


async def test_a_disabled_users_token_stops_working(api: Api, postgres_url: str) -> None:
    engine = get_engine(postgres_url)
    create_user(engine, "integration-b", "coordinator", None, replace=True)
    headers = {"Authorization": f"Bearer {issue_token(engine, 'integration-b')}"}
    assert (await api.http.get(f"{API}/worklist", headers=headers)).status_code == 200
    with Session(engine) as session:
        user = session.exec(select(UserRow).where(col(UserRow.username) == "integration-b")).one()
        user.active = False
        session.add(user)
        session.commit()
    assert (await api.http.get(f"{API}/worklist", headers=headers)).status_code == 401


# ------------------------------------------------------------------- identity and audit

IDENTIFYING = ("9434765919", "943 476 5919", "Testpatient", "Zebedee", "1958-03-14")


async def test_ops_sees_no_names_or_nhs_numbers(api: Api) -> None:
    nhs = payloads.fresh_nhs_number()
    pid = await api.refer(patient={**payloads.PATIENT, "nhs_number": nhs})
    identifying = (*IDENTIFYING, nhs, f"{nhs[:3]} {nhs[3:6]} {nhs[6:]}")
    for path in ["/pathways?limit=200", f"/pathways/{pid}", "/stats"]:
        r = await api.get(Role.OPS, path)
        assert r.status_code == 200, path
        assert not [s for s in identifying if s in r.text], path
    listed = (await api.get(Role.OPS, "/pathways", params={"limit": 200})).json()
    assert all(p["patient"] is None for p in listed["items"])
    admin = (await api.get(Role.ADMIN, f"/pathways/{pid}")).json()
    assert admin["patient"] is None
    clinician = (await api.get(Role.PHYSICIST, f"/pathways/{pid}")).json()
    assert clinician["patient"]["nhs_number"] == nhs


async def test_views_and_writes_are_audited_without_identifiers(api: Api) -> None:
    pid = await api.refer()
    await api.get(Role.PHYSICIST, f"/pathways/{pid}")
    await api.step(Role.COORDINATOR, pid, "mdt-decision", payloads.mdt(await api.today()))
    await api.step(Role.MDT_CLINICIAN, pid, "mdt-decision", payloads.mdt(await api.today()))
    events = [(e.username, e.role, e.action, e.outcome) for e in api.audit(pid)]
    assert events == [
        ("coordinator", "coordinator", "pathway:refer", "ok"),
        ("physicist", "physicist", "pathway:view", "ok"),
        ("coordinator", "coordinator", "step:mdt-decision", "denied"),
        ("mdt", "mdt_clinician", "step:mdt-decision", "ok"),
    ]
    assert all(e.at is not None and e.user_id is not None for e in api.audit(pid))
    with Session(api.engine) as session:
        for row in session.exec(select(AuditEventRow)).all():
            text = " ".join(str(v) for v in row.model_dump().values())
            assert not [s for s in IDENTIFYING if s in text], text


async def test_audit_trail_is_readable_by_admin_only(api: Api) -> None:
    pid = await api.refer()
    r = await api.get(Role.ADMIN, "/audit", params={"pathway_id": pid})
    assert r.status_code == 200
    assert [e["action"] for e in r.json()["items"]] == ["pathway:refer"]
    assert (await api.get(Role.COORDINATOR, "/audit")).status_code == 403

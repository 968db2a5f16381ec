"""The OpenAPI document is valid, and schemathesis finds no server error in any operation.

Each operation is called with the token of a role the permission matrix allows (so the fuzzer
gets past authorisation), path ids point at a real pathway (so steps reach the workflow's Update
validators), and examples are bounded and derandomised so the run is quick and repeatable.
"""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis.checks import not_a_server_error
from temporalio.testing import WorkflowEnvironment

from api.main import serve_app
from api.permissions import APP_ROLES, allowed
from core.devserver import free_port, port_is_open
from models.vocab import Role
from tests import payloads
from tests.api.conftest import last_audit_id, make_app, referred_since
from tests.api.test_authorisation import ROUTES

MAX_EXAMPLES = 12
# Roles the matrix refuses are fuzzed too (a refusal must never be a 500), with fewer examples.
REFUSED_EXAMPLES = 3


@pytest.fixture
async def served(
    pathways: Any, workflow_env: WorkflowEnvironment, postgres_url: str, tmp_path: Path
) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """The app on a loopback port (schemathesis calls it over HTTP from a thread)."""
    app = make_app(workflow_env, postgres_url, pathways.task_queue, tmp_path, refer_wait_s=1)
    engine = app.state.ctx.engine
    start = last_audit_id(engine)
    port = free_port()
    server = asyncio.create_task(serve_app(app, "127.0.0.1", port))
    while not port_is_open("127.0.0.1", port):
        await asyncio.sleep(0.05)
    yield f"http://127.0.0.1:{port}", app.openapi()
    server.cancel()
    await asyncio.gather(server, return_exceptions=True)
    pathways.started.extend(referred_since(engine, start))


def _role_for(method: str, path: str) -> Role:
    action = next(a for m, p, a in ROUTES if m == method and p == path)
    return next(r for r in APP_ROLES if allowed(r, action))


def _fuzz_operation(
    operation: Any,
    base_url: str,
    headers: dict[str, str],
    pathway_id: str,
    examples: int = MAX_EXAMPLES,
) -> dict[int, int]:
    """Run the bounded examples of one operation; raises on the first server error."""
    params = {"pathway_id": pathway_id} if "{pathway_id}" in operation.path else None
    statuses: dict[int, int] = {}

    @hypothesis.settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(case=operation.as_strategy(path_parameters=params))
    def check(case: Any) -> None:
        response = case.call_and_validate(
            base_url=base_url, headers=headers, checks=[not_a_server_error], timeout=30
        )
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    check()
    return statuses


def _fuzz(
    base_url: str, document: dict[str, Any], tokens: dict[Role, str], pathway_id: str
) -> tuple[list[str], dict[int, int]]:
    """Failures per operation, and how many responses of each status the fuzzer saw."""
    schema = schemathesis.openapi.from_dict(document)
    schema.validate()  # against the OpenAPI 3.1 meta-schema
    failures: list[str] = []
    statuses: dict[int, int] = {}
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # an Err would raise: fine here
        allowed_role = _role_for(operation.method.upper(), operation.path)
        for role in APP_ROLES:
            headers = {"Authorization": f"Bearer {tokens[role]}"}
            examples = MAX_EXAMPLES if role == allowed_role else REFUSED_EXAMPLES
            try:
                seen = _fuzz_operation(operation, base_url, headers, pathway_id, examples)
            except Exception as exc:  # collect every operation's failure, then report them all
                failures.append(f"{operation.method.upper()} {operation.path} as {role}: {exc}")
                continue
            if role != allowed_role:
                continue  # only the allowed role's answers count towards reaching handlers
            for status, count in seen.items():
                statuses[status] = statuses.get(status, 0) + count
    return failures, statuses


async def test_openapi_document_is_valid_and_fuzzing_finds_no_server_error(
    served: tuple[str, dict[str, Any]], tokens: dict[Role, str]
) -> None:
    base_url, document = served
    assert document["openapi"].startswith("3.")
    # The API, and the Temporal UI's codec endpoint (JSON, so in the schema too).
    documented = {(m.lower(), p) for m, p, _ in ROUTES if p.startswith(("/api/", "/codec/"))}
    in_schema = {(m, p) for p, ops in document["paths"].items() for m in ops}
    assert in_schema == documented - {("get", "/api/v1/openapi.json")}
    # A real pathway for the step operations, referred through the API itself.
    async with httpx.AsyncClient(base_url=base_url) as http:
        r = await http.post(
            "/api/v1/pathways",
            json=payloads.referral().model_dump(mode="json"),
            headers={"Authorization": f"Bearer {tokens[Role.COORDINATOR]}"},
        )
        pathway_id = r.json()["pathway_id"]
    failures, statuses = await asyncio.to_thread(_fuzz, base_url, document, tokens, pathway_id)
    assert not failures, "\n\n".join(failures)
    print("responses by status:", dict(sorted(statuses.items())))
    # The fuzzer got past authorisation and reached the handlers, not just the 401/403 gate.
    assert statuses.get(200, 0) > 20 and statuses.get(422, 0) > 20
    assert not {401, 403} & set(statuses)

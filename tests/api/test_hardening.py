"""Smaller doors: oversized bodies, cached identity, bare errors, a registry without its secret.

Measured before: an 8.5 MB referral got a 503 from gRPC's 4 MB limit after 16 s; the registry
export answered 500 without its pseudonym secret; identity-bearing JSON had no
`Cache-Control: no-store`; 500 responses lacked the security headers.
"""

from collections.abc import AsyncIterator

import httpx
import pytest

from models.vocab import Role
from tests import payloads
from tests.api.conftest import API, Api


def _big_referral() -> dict[str, object]:
    body = payloads.referral().model_dump(mode="json")
    body["referrer"] = "x" * (8_500_000)
    return body


async def test_an_oversized_body_is_413_at_once_and_nothing_is_referred(api: Api) -> None:
    before = len(api.audit(action="pathway:refer"))
    r = await api.post(Role.COORDINATOR, "/pathways", _big_referral())
    assert r.status_code == 413
    assert r.json() == {"detail": "request body: larger than the limit of 2097152 bytes"}
    assert r.headers["x-content-type-options"] == "nosniff"

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(300):
            yield b"x" * 10_000

    streamed = await api.http.post(
        API + "/pathways", content=chunks(), headers={**api.auth(Role.COORDINATOR)}
    )
    assert streamed.status_code == 413
    assert len(api.audit(action="pathway:refer")) == before


async def test_identity_bearing_json_is_never_cached(api: Api) -> None:
    pid = await api.refer()
    r = await api.get(Role.COORDINATOR, f"/pathways/{pid}")
    assert r.status_code == 200
    assert "Testpatient" in r.text
    assert r.headers["cache-control"] == "no-store"


async def test_a_registry_export_without_its_secret_names_the_setting(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SIRT_REGISTRY_PSEUDONYM_SECRET", raising=False)
    await api.refer()
    r = await api.get(Role.ADMIN, "/registry/export.csv")
    assert r.status_code == 409
    assert "SIRT_REGISTRY_PSEUDONYM_SECRET" in r.json()["detail"]


async def test_a_server_error_carries_the_security_headers(api: Api) -> None:
    app = api.http._transport.app  # type: ignore[attr-defined]

    async def broken() -> None:
        raise ZeroDivisionError("a bug")

    app.router.add_api_route(API + "/broken-for-this-test", broken)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://sirt.test") as http:
        r = await http.get(API + "/broken-for-this-test")
    assert r.status_code == 500
    assert r.json() == {"detail": "internal error (logged)"}
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["cache-control"] == "no-store"

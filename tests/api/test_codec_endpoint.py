"""The app's remote codec endpoint for the Temporal Web UI: who may decode, and what they see."""

import base64
import json

import httpx
from temporalio.api.enums.v1 import EventType

from core.codec import ENCODING, KEY_ID
from models.vocab import Role
from tests.api.conftest import BASE, Api, Login, login


def _json(payload: dict[str, object]) -> object:
    return json.loads(base64.b64decode(str(payload["data"])))


async def _start_input(api: Api, pathway_id: str) -> list[dict[str, object]]:
    """The referral as Temporal stores it (encrypted), in the protocol's JSON form."""
    history = await api.env.client.get_workflow_handle(pathway_id).fetch_history()
    [started] = [
        e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
    ]
    return [
        {
            "metadata": {k: base64.b64encode(v).decode() for k, v in p.metadata.items()},
            "data": base64.b64encode(p.data).decode(),
        }
        for p in started.workflow_execution_started_event_attributes.input.payloads
    ]


async def test_admin_decodes_ops_sees_no_identity_and_others_are_refused(api: Api) -> None:
    pid = await api.refer()
    body = {"payloads": await _start_input(api, pid)}
    assert "Testpatient" not in json.dumps(body)

    admin = await api.http.post("/codec/decode", json=body, headers=api.auth(Role.ADMIN))
    assert admin.status_code == 200, admin.text
    [shown] = admin.json()["payloads"]
    assert "Testpatient" in json.dumps(_json(shown))

    ops = await api.http.post("/codec/decode", json=body, headers=api.auth(Role.OPS))
    assert ops.status_code == 200
    [withheld] = ops.json()["payloads"]
    decoded = _json(withheld)
    assert isinstance(decoded, dict)
    assert decoded["referral"]["patient"] == "[withheld]"
    assert decoded["referral"]["primary_site"] == "midgut"
    for identifier in ("Testpatient", "Zebedee", "9434765919", "943 476 5919"):
        assert identifier not in json.dumps(decoded)

    for role in (Role.COORDINATOR, Role.MDT_CLINICIAN, Role.PHYSICIST):
        refused = await api.http.post("/codec/decode", json=body, headers=api.auth(role))
        assert refused.status_code == 403
    assert (await api.http.post("/codec/decode", json=body)).status_code == 401
    trail = [(e.username, e.outcome, e.detail) for e in api.audit(action="engine:decode")]
    assert trail[-5:] == [
        ("admin", "ok", "1 payloads"),
        ("ops", "ok", "1 payloads"),
        ("coordinator", "denied", None),
        ("mdt", "denied", None),
        ("physicist", "denied", None),
    ]


async def test_the_ui_calls_with_the_browsers_session_and_only_admin_encodes(
    api: Api, demo_users: dict[Role, Login]
) -> None:
    plain = {"metadata": {"encoding": base64.b64encode(b"json/plain").decode()}, "data": ""}
    plain["data"] = base64.b64encode(b'{"reason": "x"}').decode()
    body = {"payloads": [plain]}
    assert (
        await api.http.post("/codec/encode", json=body, headers=api.auth(Role.OPS))
    ).status_code == 403
    encoded = await api.http.post("/codec/encode", json=body, headers=api.auth(Role.ADMIN))
    assert encoded.status_code == 200
    [sealed] = encoded.json()["payloads"]
    assert base64.b64decode(sealed["metadata"]["encoding"]) == ENCODING
    assert base64.b64decode(sealed["metadata"][KEY_ID]) == b"default"

    transport = httpx.ASGITransport(app=api.http._transport.app)  # type: ignore[attr-defined]
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as browser:
        await login(browser, demo_users[Role.OPS])
        # No CSRF header: the UI cannot send one, and decoding changes nothing.
        r = await browser.post("/codec/decode", json={"payloads": [sealed]})
        assert r.status_code == 200, r.text
        assert _json(r.json()["payloads"][0]) == {"reason": "[withheld]"}

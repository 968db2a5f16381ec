"""The Temporal Web UI, only through the app: `/temporal/...` proxied to the UI's loopback port.

Reading (GET/HEAD) is for signed-in ops and admin; anyone else signed in gets 403, and an
anonymous browser is sent to the login page. Every write the UI makes through its HTTP API
(terminate, cancel, signal, update, reset...) is admin-only and audited. The app's own session
cookie and credentials never reach the UI server.
"""

from typing import Annotated

import httpx
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api import audit
from api.accounts import Principal
from api.audit import Outcome
from api.deps import CtxDep, require

router = APIRouter(include_in_schema=False)

# Not forwarded either way: hop-by-hop headers, and what httpx recomputes.
_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "content-encoding",
        "authorization",
        "cookie",
    }
)
SESSION_COOKIE = "sirt_session"
WRITE_METHODS = ["POST", "PUT", "PATCH", "DELETE"]


def _forward_cookies(request: Request) -> dict[str, str]:
    # The UI server's own cookies (its CSRF token) pass; the app's session cookie does not.
    return {k: v for k, v in request.cookies.items() if k != SESSION_COOKIE}


async def _proxy(request: Request, ctx: CtxDep, path: str) -> Response:
    upstream = f"{ctx.settings.temporal_ui_url}/{path}"
    headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
    try:
        async with httpx.AsyncClient(timeout=30.0, cookies=_forward_cookies(request)) as client:
            answer = await client.request(
                request.method,
                upstream,
                params=request.query_params,
                headers=headers,
                content=await request.body(),
            )
    except httpx.HTTPError:
        return Response(
            "The Temporal Web UI is not reachable from the app.",
            status_code=503,
            media_type="text/plain",
        )
    out = Response(answer.content, status_code=answer.status_code)
    for key, value in answer.headers.multi_items():
        if key.lower() not in _HOP and key.lower() != "set-cookie":
            out.headers.append(key, value)
    for cookie in answer.headers.get_list("set-cookie"):
        out.headers.append("set-cookie", cookie)
    return out


@router.api_route("/temporal/{path:path}", methods=["GET", "HEAD"])
async def temporal_ui(
    path: str,
    request: Request,
    ctx: CtxDep,
    _who: Annotated[Principal, Depends(require("engine:ui"))],
) -> Response:
    """The Temporal Web UI's pages and reads, for ops and admin."""
    return await _proxy(request, ctx, path)


@router.api_route("/temporal/{path:path}", methods=WRITE_METHODS)
async def temporal_ui_write(
    path: str,
    request: Request,
    ctx: CtxDep,
    who: Annotated[Principal, Depends(require("engine:ui-write", csrf=False))],
) -> Response:
    """A write through the Temporal Web UI (terminate, cancel, signal, update, reset...):
    admin only, audited with the UI's API path (workflow ids are pseudonymous).

    csrf=False: the UI cannot send the app's CSRF token; its own server checks its CSRF
    cookie and header, which this proxy forwards.
    """
    answer = await _proxy(request, ctx, path)
    outcome = Outcome.OK if answer.status_code < 400 else Outcome.ERROR
    await run_in_threadpool(
        audit.record,
        ctx.engine,
        who,
        "engine:ui-write",
        outcome,
        detail=f"{request.method} /temporal/{path}"[:500],
    )
    return answer

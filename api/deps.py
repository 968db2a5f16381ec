"""Dependencies shared by the routes: the app context and the one authorisation check.

``require(action)`` is the only way a route is authorised: it establishes who is calling
(bearer token or session cookie), checks the CSRF token of a cookie-authenticated write, looks
the action up in api.permissions.MATRIX, and audits a refusal.
"""

import re
import secrets
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from api import audit
from api.accounts import Principal, principal_for_session, principal_for_token
from api.audit import Outcome
from api.context import AppContext
from api.permissions import allowed, can_view_identity

# Pathway ids are "pathway-" and a UUID (core.pathways.new_pathway_id); URLs carry nothing else.
PATHWAY_ID_PATTERN = r"^pathway-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
_PATHWAY_ID = re.compile(PATHWAY_ID_PATTERN)


def is_pathway_id(value: object) -> bool:
    """Whether ``value`` is a well-formed pathway id (safe to store in the audit trail)."""
    return isinstance(value, str) and _PATHWAY_ID.match(value) is not None


# The signed cookie holds only this random token; the session itself is a row (SessionRow).
SESSION_KEY = "sid"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"

_bearer = HTTPBearer(auto_error=False, description="An API token from `sirt users token`.")


class NotAuthenticated(Exception):
    """No valid credentials: 401 for the API, a redirect to the login page for pages."""


class Forbidden(Exception):
    """Authenticated, but the role may not take this action (or the CSRF token is wrong)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def get_ctx(request: Request) -> AppContext:
    """The application's context."""
    ctx: AppContext = request.app.state.ctx
    return ctx


CtxDep = Annotated[AppContext, Depends(get_ctx)]
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


async def current_principal(
    request: Request, ctx: AppContext, bearer: HTTPAuthorizationCredentials | None
) -> Principal | None:
    """The caller from a bearer token, else from the session cookie; None if neither."""
    if bearer is not None:
        return await run_in_threadpool(principal_for_token, ctx.engine, bearer.credentials)
    if request.headers.get("authorization"):
        return None  # a malformed or non-bearer Authorization header never falls back
    token = request.session.get(SESSION_KEY)
    if not isinstance(token, str):
        return None
    return await run_in_threadpool(
        lambda: principal_for_session(
            ctx.engine,
            token,
            idle=timedelta(seconds=ctx.api.session_idle_s),
            absolute=timedelta(seconds=ctx.api.session_max_age_s),
        )
    )


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


async def csrf_ok(request: Request) -> bool:
    """Whether a write carries the session's CSRF token (form field or X-CSRF-Token header)."""
    expected = request.session.get("csrf")
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    return isinstance(expected, str) and sent is not None and secrets.compare_digest(expected, sent)


class Require:
    """The dependency ``require(action)`` returns; ``action`` is kept for the matrix tests."""

    def __init__(self, action: str, *, csrf: bool = True) -> None:
        self.action = action
        self.csrf = csrf

    async def __call__(self, request: Request, ctx: CtxDep, bearer: BearerDep) -> Principal:
        principal = await current_principal(request, ctx, bearer)
        if principal is None:
            raise NotAuthenticated()
        # Cookies ride along on cross-site requests; tokens in headers do not, so only
        # cookie-authenticated writes need the CSRF token.
        if (
            self.csrf
            and principal.via == "session"
            and request.method not in SAFE_METHODS
            and not await csrf_ok(request)
        ):
            await run_in_threadpool(
                audit.record, ctx.engine, principal, self.action, Outcome.DENIED, detail="csrf"
            )
            raise Forbidden("The form has expired or did not come from this site; try again.")
        if not allowed(principal.role, self.action):
            pathway_id = request.path_params.get("pathway_id")
            await run_in_threadpool(
                audit.record,
                ctx.engine,
                principal,
                self.action,
                Outcome.DENIED,
                pathway_id=pathway_id if is_pathway_id(pathway_id) else None,
            )
            raise Forbidden(f"Your role ({principal.role}) may not do this ({self.action}).")
        # For the validation-error handler, which audits rejected writes.
        request.state.principal = principal
        request.state.action = self.action
        return principal


def require(action: str, *, csrf: bool = True) -> Require:
    """A dependency that lets the request through only if the caller may take ``action``.

    ``csrf=False`` only for POSTs that change nothing and whose answer another site cannot
    read (no CORS): the Temporal UI's codec calls, which cannot carry our CSRF header.
    """
    return Require(action, csrf=csrf)


def identity_visible(principal: Principal) -> bool:
    """Whether this caller may see patient names and NHS numbers."""
    return can_view_identity(principal.role)

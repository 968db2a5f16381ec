"""Signing in and out of the pages (password, session cookie, CSRF, lockout).

These are the only routes without ``require``: nobody is signed in yet. Both check the CSRF token.
"""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from api import audit
from api.accounts import LoginOutcome, authenticate, open_session, revoke_session
from api.audit import Outcome
from api.deps import SESSION_KEY, CtxDep, csrf_ok, csrf_token
from api.templating import flash, render

router = APIRouter(include_in_schema=False)


def _safe_next(target: str | None) -> str:
    # Only local paths: an open redirect would let a phishing link borrow our login page.
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/"


def _login_page(
    request: Request,
    ctx: CtxDep,
    *,
    error: str | None = None,
    username: str = "",
    next_url: str = "/",
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "login.html",
        None,
        status_code=status_code,
        title="Sign in",
        error=error,
        username=username,
        next=next_url,
        lockout_minutes=ctx.api.lockout_minutes,
        lockout_failures=ctx.api.lockout_failures,
    )


@router.get("/login")
async def login_form(request: Request, ctx: CtxDep, next: str = "/") -> Response:
    """The sign-in page."""
    return _login_page(request, ctx, next_url=_safe_next(next))


@router.post("/login")
async def login(
    request: Request,
    ctx: CtxDep,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    """Check the password; lock the username out after repeated failures."""
    next_url = _safe_next(next)
    if not await csrf_ok(request):
        return _login_page(
            request,
            ctx,
            error="The sign-in form expired. Please try again.",
            username=username,
            next_url=next_url,
            status_code=403,
        )
    outcome, principal = await run_in_threadpool(
        lambda: authenticate(
            ctx.engine,
            username,
            password,
            max_failures=ctx.api.lockout_failures,
            lockout=timedelta(minutes=ctx.api.lockout_minutes),
            client=request.client.host if request.client else "-",
        )
    )
    if outcome == LoginOutcome.OK and principal is not None:
        await run_in_threadpool(audit.record, ctx.engine, principal, "session:login", Outcome.OK)
        # A fresh session (new id, new CSRF token) on every sign-in defeats session fixation;
        # the one the browser had before, if any, is ended.
        old = request.session.get(SESSION_KEY)
        if isinstance(old, str):
            await run_in_threadpool(revoke_session, ctx.engine, old)
        request.session.clear()
        request.session[SESSION_KEY] = await run_in_threadpool(
            open_session, ctx.engine, principal.user_id
        )
        csrf_token(request)
        return RedirectResponse(next_url, status_code=303)
    locked = outcome == LoginOutcome.LOCKED
    await run_in_threadpool(
        audit.record,
        ctx.engine,
        username.strip().lower() or "-",
        "session:login",
        Outcome.LOCKED if locked else Outcome.FAILED,
    )
    error = (
        f"Too many failed attempts: sign-in is locked for {ctx.api.lockout_minutes} minutes."
        if locked
        else "The username or password is not right."
    )
    return _login_page(
        request,
        ctx,
        error=error,
        username=username,
        next_url=next_url,
        status_code=429 if locked else 401,
    )


@router.post("/logout")
async def logout(request: Request, ctx: CtxDep) -> Response:
    """Sign out (CSRF-checked, so another site cannot sign you out): the session is ended on
    the server, so a copy of the cookie no longer works either."""
    if await csrf_ok(request):
        token = request.session.get(SESSION_KEY)
        if isinstance(token, str):
            await run_in_threadpool(revoke_session, ctx.engine, token)
        request.session.clear()
        flash(request, "You have signed out.")
    return RedirectResponse("/login", status_code=303)

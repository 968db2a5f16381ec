"""The app factory and a programmatic server, for `sirt dev` and the tests."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote

import uvicorn
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from temporalio.client import Client
from temporalio.service import RPCError

from api import audit
from api.accounts import Principal
from api.audit import Outcome
from api.context import AppContext, Clock, wall_clock
from api.deps import Forbidden, NotAuthenticated, current_principal, is_pathway_id
from api.limits import BodyLimitMiddleware
from api.outages import (
    READ_MODEL_DOWN,
    READ_MODEL_ERRORS,
    TEMPORAL_DOWN,
    retry_after,
    temporal_unreachable,
)
from api.routes import audit as audit_routes
from api.routes import auth, health, ops, pages, pathways, stats, temporal_ui, worklist
from api.routes import codec as codec_routes
from api.routes import intake as intake_routes
from api.security import CSP, SECURITY_HEADERS
from api.service import ApiError, audit_fields, normalise_errors
from api.settings import ApiSettings, load_or_create_secret
from api.telemetry import time_requests
from api.templating import render
from core.config import Settings
from core.db import get_engine
from core.devserver import port_is_open
from core.temporal import connect
from registry.config import RegistryConfigError

log = logging.getLogger("sirt.api")

API_PREFIX = "/api/v1"
ClientFactory = Callable[[Settings], Awaitable[Client]]

# (prefix, router) of every router; the authorisation tests walk these.
ROUTERS: tuple[tuple[str, APIRouter], ...] = (
    (API_PREFIX, pathways.router),
    (API_PREFIX, worklist.router),
    (API_PREFIX, stats.router),
    (API_PREFIX, audit_routes.router),
    (API_PREFIX, ops.router),
    (API_PREFIX, intake_routes.router),
    ("", codec_routes.router),
    ("", temporal_ui.router),
    ("", ops.metrics_router),
    ("", auth.router),
    ("", pages.router),
    ("", intake_routes.pages_router),
    ("", health.router),
)

_SECURITY_HEADERS = SECURITY_HEADERS
_CSP = CSP


def create_app(
    settings: Settings | None = None,
    client_factory: ClientFactory | None = None,
    *,
    client: Client | None = None,
    api_settings: ApiSettings | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    """The web app. The Temporal client is ``client`` if given, else made on startup.

    ``clock`` is the app's idea of now (worklist snoozes, "due within"); tests pass the
    time-skipping server's clock so it agrees with the workflows.
    """
    settings = settings or Settings()
    api_settings = api_settings or ApiSettings()
    factory = client_factory or _connect_lazily
    ctx = AppContext(
        settings=settings,
        api=api_settings,
        engine=get_engine(settings.resolved_database_url),
        clock=clock or wall_clock,
        client=client,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if ctx.client is None:
            ctx.client = await factory(settings)
        yield

    app = FastAPI(
        title="SIRT Pathway",
        version="1.0.0",
        summary="Coordinator API for SIRT of neuroendocrine liver metastases (NICE HTG720).",
        description=(
            "Authenticate with `Authorization: Bearer <token>` (tokens from `sirt users token`). "
            "Lists omit names and NHS numbers for roles without `patient:identity`. "
            "Validation errors and refused steps return 422 with `detail[].loc` naming the field, "
            "`detail[].label` naming it in clinical words (as the forms do) and `detail[].msg` "
            "starting with that label."
        ),
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # served offline by api.routes.docs
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    secret = load_or_create_secret(api_settings.session_secret, settings.data_dir / "session.key")
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret,
        session_cookie="sirt_session",
        max_age=api_settings.session_max_age_s,
        same_site="lax",
        https_only=api_settings.cookie_secure,
    )

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers.update(_SECURITY_HEADERS)
        # JSON answers may name a patient: never kept by a browser or a shared cache.
        if response.headers.get("content-type", "").startswith("application/json"):
            response.headers.setdefault("Cache-Control", "no-store")
        # The docs and the Temporal UI run scripts; the UI sends its own policy.
        if not request.url.path.startswith(("/docs", "/temporal/")):
            response.headers.setdefault("Content-Security-Policy", _CSP)
        return response

    app.middleware("http")(time_requests)
    for prefix, router in ROUTERS:
        app.include_router(router, prefix=prefix)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    _add_error_handlers(app)
    # Added last, so it runs first: an oversized body is refused before anything reads it.
    app.add_middleware(BodyLimitMiddleware, max_bytes=api_settings.max_body_bytes)
    return app


async def _connect_lazily(settings: Settings) -> Client:
    # The app starts, and answers 503 until it can dial, even while Temporal is down.
    return await connect(settings, lazy=True)


def _is_api(request: Request) -> bool:
    # The codec endpoint is called by the Temporal UI's JavaScript: JSON errors, no redirects.
    return request.url.path.startswith((API_PREFIX, "/codec/"))


# Read by programs, not people: they get JSON errors like the API.
_MACHINE_PATHS = frozenset({"/metrics", "/healthz", "/readyz"})


def _first_line(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc
    text = str(cause).strip().splitlines()
    return text[0] if text else type(cause).__name__


async def _unavailable(request: Request, detail: str, principal: Principal | None) -> Response:
    """503 with Retry-After: JSON for the API, the error page for pages."""
    response: Response
    if _is_api(request) or request.url.path in _MACHINE_PATHS:
        response = JSONResponse({"detail": detail}, status_code=503)
    else:
        response = render(
            request,
            "error.html",
            principal,
            status_code=503,
            title="Temporarily unavailable",
            message=detail,
        )
    response.headers.update(retry_after())
    return response


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(NotAuthenticated)
    async def not_authenticated(request: Request, _exc: NotAuthenticated) -> Response:
        if _is_api(request):
            return JSONResponse(
                {"detail": "Not authenticated"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        if _is_api(request):
            return JSONResponse({"detail": exc.reason}, status_code=403)
        principal = await _principal(request)
        return render(
            request,
            "error.html",
            principal,
            status_code=403,
            title="Not allowed",
            message=exc.reason,
        )

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        headers = retry_after() if exc.status == 503 else None
        if _is_api(request):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status, headers=headers)
        principal = await _principal(request)
        message = exc.detail if isinstance(exc.detail, str) else "The request was not valid."
        response = render(
            request, "error.html", principal, status_code=exc.status, title="Sorry", message=message
        )
        response.headers.update(headers or {})
        return response

    async def read_model_down(request: Request, exc: Exception) -> Response:
        # One line, no traceback: an outage is an operational event, not a bug.
        log.warning(
            "read model unavailable (%s %s): %s", request.method, request.url.path, _first_line(exc)
        )
        # No principal for the page header: looking it up would need the database.
        return await _unavailable(request, READ_MODEL_DOWN, None)

    for error in READ_MODEL_ERRORS:
        app.add_exception_handler(error, read_model_down)

    async def temporal_down(request: Request, exc: Exception) -> Response:
        if not temporal_unreachable(exc):
            raise exc  # any other RPC or runtime error is a bug: a 500 with its traceback
        log.warning(
            "Temporal unavailable (%s %s): %s", request.method, request.url.path, _first_line(exc)
        )
        return await _unavailable(request, TEMPORAL_DOWN, await _principal(request))

    app.add_exception_handler(RPCError, temporal_down)
    app.add_exception_handler(RuntimeError, temporal_down)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        detail = normalise_errors(exc.errors())
        principal: Principal | None = getattr(request.state, "principal", None)
        action: str | None = getattr(request.state, "action", None)
        if principal is not None and action is not None and request.method != "GET":
            ctx: AppContext = request.app.state.ctx
            pathway_id = request.path_params.get("pathway_id")
            await run_in_threadpool(
                lambda: audit.record(
                    ctx.engine,
                    principal,
                    action,
                    Outcome.INVALID,
                    pathway_id=pathway_id if is_pathway_id(pathway_id) else None,
                    detail=audit_fields(detail),
                )
            )
        if _is_api(request):
            return JSONResponse({"detail": detail}, status_code=422)
        # A page URL with a malformed id: nothing by that name.
        return render(
            request,
            "error.html",
            principal,
            status_code=404,
            title="Not found",
            message="There is no such page.",
        )

    @app.exception_handler(RegistryConfigError)
    async def registry_not_configured(request: Request, exc: RegistryConfigError) -> Response:
        # A deployment without the registry's secret: a 409 (the deployment's state forbids
        # it; no retry helps) naming the setting, not a bare 500.
        return JSONResponse(
            {"detail": f"registry export is not configured: {exc}"}, status_code=409
        )

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> Response:
        # Starlette answers this outside every middleware: the headers are set here.
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        headers = {
            **_SECURITY_HEADERS,
            "Cache-Control": "no-store",
            "Content-Security-Policy": _CSP,
        }
        if _is_api(request):
            return JSONResponse(
                {"detail": "internal error (logged)"}, status_code=500, headers=headers
            )
        return Response(
            "Sorry: something went wrong (it has been logged).",
            status_code=500,
            media_type="text/plain",
            headers=headers,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if _is_api(request) or request.url.path.startswith(("/docs", "/static")):
            return JSONResponse(
                {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
            )
        principal = await _principal(request)
        return render(
            request,
            "error.html",
            principal,
            status_code=exc.status_code,
            title="Not found" if exc.status_code == 404 else "Sorry",
            message=str(exc.detail),
        )


async def _principal(request: Request) -> Principal | None:
    """The caller, for the header of an error page (None if not signed in)."""
    try:
        ctx: AppContext = request.app.state.ctx
        return await current_principal(request, ctx, None)
    except Exception:  # an error page must render even if this fails
        return None


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to its host process (`sirt dev`)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # The host cancels serve_app on Ctrl-C; uvicorn must not take the handlers over.
        yield


async def serve_app(app: FastAPI, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve ``app`` until cancelled; cancelling shuts it down gracefully first.

    Raises OSError at once if the port is taken (uvicorn would sys.exit inside the loop).
    """
    if port_is_open(host, port):
        raise OSError(f"port {port} on {host} is already in use: the web app cannot listen there")
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
    server = _Server(config)
    task = asyncio.ensure_future(server.serve())
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        server.should_exit = True
        await task
        raise


async def serve(
    settings: Settings,
    client: Client,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    api_settings: ApiSettings | None = None,
) -> None:
    """Run the web app with an existing Temporal client, next to the worker, until cancelled."""
    await serve_app(create_app(settings, client=client, api_settings=api_settings), host, port)

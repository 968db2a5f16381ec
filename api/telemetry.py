"""Request latency for Prometheus, labelled by route template (never by a URL's values)."""

import time
from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from prometheus_client import CollectorRegistry, Histogram, generate_latest

REGISTRY = CollectorRegistry()
REQUEST_SECONDS = Histogram(
    "sirt_http_request_duration_seconds",
    "Time to answer an HTTP request, by method, route template and status class.",
    ["method", "route", "status"],
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


async def time_requests(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Middleware: observe each request's duration once it has been routed and answered."""
    start = time.perf_counter()
    response = await call_next(request)
    route = request.scope.get("route")
    template = getattr(route, "path", "unrouted")
    status = f"{response.status_code // 100}xx"
    REQUEST_SECONDS.labels(request.method, template, status).observe(time.perf_counter() - start)
    return response


def latency_exposition() -> bytes:
    """The request-latency metrics in the Prometheus text format."""
    return generate_latest(REGISTRY)

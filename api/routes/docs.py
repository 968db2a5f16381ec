"""Swagger UI served from the swagger-ui-bundle-v2 package: no CDN, so /docs works offline.

FastAPI's default /docs loads Swagger UI from jsDelivr, which left the page blank on machines
without internet. Swagger UI 5 renders the OpenAPI 3.1 document FastAPI produces.
"""

from pathlib import Path

import swagger_ui_bundle  # type: ignore[import-untyped]
from fastapi import APIRouter, HTTPException
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, Response

router = APIRouter(include_in_schema=False)

ASSETS = Path(swagger_ui_bundle.swagger_ui_path)
# Only the files the page loads; nothing else in the package directory is served.
SERVED = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}
FAVICON = Path(__file__).resolve().parents[1] / "static" / "favicon.svg"


@router.get("/docs")
async def swagger_ui() -> HTMLResponse:
    """The interactive API documentation (Swagger UI), from local files."""
    return get_swagger_ui_html(
        openapi_url="/api/v1/openapi.json",
        title="SIRT Pathway API",
        swagger_js_url="/docs/assets/swagger-ui-bundle.js",
        swagger_css_url="/docs/assets/swagger-ui.css",
        swagger_favicon_url="/static/favicon.svg",
    )


@router.get("/docs/assets/{name}")
async def swagger_asset(name: str) -> Response:
    """One of Swagger UI's files."""
    if name not in SERVED:
        raise HTTPException(404, "no such file")
    return FileResponse(ASSETS / name, media_type=SERVED[name])


@router.get("/favicon.ico")
async def favicon() -> Response:
    """Browsers ask for /favicon.ico whatever the page says: the same SVG icon."""
    return FileResponse(FAVICON, media_type="image/svg+xml")

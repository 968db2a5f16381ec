"""Set-up: Swagger UI and the favicon come from the app itself, so /docs works offline.

Measured on main before this: /docs was blank offline (Swagger UI loaded from a CDN).
"""

import re

import httpx

from tests.api.conftest import Api


async def test_swagger_ui_is_served_from_the_app(api: Api) -> None:
    http: httpx.AsyncClient = api.http
    page = await http.get("/docs")
    assert page.status_code == 200
    assert '<script src="/docs/assets/swagger-ui-bundle.js">' in page.text
    assert 'href="/docs/assets/swagger-ui.css"' in page.text
    assert "cdn" not in page.text.lower() and "https://" not in page.text.replace(
        "https://fastapi.tiangolo.com", ""
    )
    js = await http.get("/docs/assets/swagger-ui-bundle.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert len(js.content) > 100_000
    css = await http.get("/docs/assets/swagger-ui.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert (await http.get("/docs/assets/index.html")).status_code == 404
    assert (await http.get("/docs/assets/..%2F..%2F__init__.py")).status_code == 404
    assert (await http.get("/api/v1/openapi.json")).json()["info"]["title"] == "SIRT Pathway"


async def test_a_favicon(api: Api) -> None:
    for url in ("/favicon.ico", "/static/favicon.svg"):
        r = await api.http.get(url)
        assert r.status_code == 200, url
        assert r.headers["content-type"].startswith("image/svg+xml")
        assert r.text.startswith("<svg")


async def test_the_nhs_design_system_is_served_by_the_app(api: Api) -> None:
    """nhsuk-frontend's CSS and icons, as `npm ci` put them (package-lock.json's version), at
    /static/nhsuk: the pages name no other origin, and neither does the CSS (no CDN font)."""
    page = await api.http.get("/login")
    assert '<link rel="stylesheet" href="/static/nhsuk/nhsuk-frontend.min.css">' in page.text
    assert page.text.index("/static/nhsuk/nhsuk-frontend.min.css") < page.text.index(
        "/static/style.css"
    )  # the app's own rules come after the design system's
    assert "https://" not in page.text and "http://" not in page.text.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )
    css = await api.http.get("/static/nhsuk/nhsuk-frontend.min.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert ".nhsuk-header" in css.text and "@font-face" not in css.text
    assert re.findall(r"url\((?!/static/nhsuk/assets/)", css.text) == []
    icon = await api.http.get("/static/nhsuk/assets/images/nhsuk-icon-cross.svg")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")

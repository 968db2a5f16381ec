"""Reports people look at: the audit report and the ops dashboard in the navigation, in the
app's layout, with charts and plots the app serves itself, each as of a chosen date.

Measured on main before this: the audit report's Kaplan-Meier images (data URIs) were blocked
by the app's own Content-Security-Policy, the page was unstyled and outside the navigation,
and the ops dashboard was tables only with no ``as_of``.
"""

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from models.vocab import Role, Stage
from tests.api.conftest import API, BASE, Api, Login, login
from tests.journey import drive_to

OPS = Role.OPS


def current_page_link(page: str) -> tuple[str, str] | None:
    """The navigation link marked as the current page: (href, text)."""
    found = re.search(r'<a [^>]*href="([^"]+)" aria-current="page">(.*?)</a>', page, re.S)
    return (found[1], re.sub(r"<[^>]+>", "", found[2]).strip()) if found else None


@pytest.fixture
async def browser(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        yield http


def images(html: str) -> list[str]:
    return re.findall(r'<img [^>]*src="([^"]+)"', html)


async def test_the_ops_dashboard_has_served_charts_and_an_as_of_date(
    api: Api, browser: httpx.AsyncClient, demo_users: dict[Role, Login]
) -> None:
    await api.refer()
    await login(browser, demo_users[OPS])
    page = await browser.get("/ops")
    assert page.status_code == 200
    assert current_page_link(page.text) == ("/ops", "Service dashboard")
    assert re.search(r'<a [^>]*href="/audit">Audit report</a>', page.text)  # in the navigation
    charts = images(page.text)
    assert charts == [f"/ops/charts/{n}.svg" for n in ("stages", "flow", "ptl", "performance")]
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for url in charts:
        r = await browser.get(url)
        assert r.status_code == 200, url
        assert r.headers["content-type"].startswith("image/svg+xml")
        assert r.text.startswith("<svg") and "<script" not in r.text

    past = await browser.get("/ops?as_of=2026-01-05")
    assert '<strong id="as-of">05 Jan 2026</strong>' in past.text
    assert images(past.text)[0] == "/ops/charts/stages.svg?as_of=2026-01-05"
    body = (await api.get(OPS, "/ops/dashboard", params={"as_of": "2026-01-05"})).json()
    assert body["dashboard"]["as_of"] == "2026-01-05"
    assert [w["week"] for w in body["dashboard"]["flow"]][-1] == "2026-W02"


async def test_the_audit_report_is_in_the_app_with_served_kaplan_meier_plots(
    api: Api, pathways: Any, browser: httpx.AsyncClient, demo_users: dict[Role, Login]
) -> None:
    await drive_to(pathways, Stage.FOLLOW_UP)
    await login(browser, demo_users[OPS])
    page = await browser.get("/audit")
    assert page.status_code == 200
    assert current_page_link(page.text) == ("/audit", "Audit report")
    assert "data:image" not in page.text
    assert images(page.text) == ["/audit/os.png", "/audit/pfs.png"]
    for url in images(page.text):
        r = await browser.get(url)
        assert r.status_code == 200, url
        assert r.headers["content-type"] == "image/png"
        assert r.content.startswith(b"\x89PNG")
    # The API's own HTML report uses the same served images (its CSP allows no data URIs).
    api_html = (await api.get(OPS, "/audit-report")).text
    assert "data:image" not in api_html and 'src="/audit/os.png"' in api_html
    dated = await browser.get("/audit?as_of=2026-06-30")
    assert 'value="2026-06-30"' in dated.text
    r = await api.http.get(API + "/audit-report.csv", headers=api.auth(OPS))
    assert r.status_code == 200

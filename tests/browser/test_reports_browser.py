"""The ops dashboard's charts and the audit report's Kaplan-Meier plots load in Chromium under
the app's own Content-Security-Policy (``naturalWidth > 0``). Screenshots in tests/artifacts/."""

from typing import Any

from playwright.async_api import Browser, Page, expect

from models.vocab import Role, Stage
from tests.api.conftest import Login
from tests.browser.test_worklist_flow import ARTIFACTS, base_url, browser, pytestmark
from tests.journey import drive_to

__all__ = ["base_url", "browser", "pytestmark"]


async def sign_in_as(page: Page, base_url: str, who: Login, heading: str) -> None:
    await page.goto(f"{base_url}/login")
    await page.get_by_label("Username").fill(who.username)
    await page.get_by_label("Password").fill(who.password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text(heading)


async def loaded_widths(page: Page) -> list[int]:
    widths: list[int] = await page.eval_on_selector_all(
        "main img", "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)"
    )
    return widths


async def test_charts_and_plots_load(
    base_url: str, browser: Browser, pathways: Any, demo_users: dict[Role, Login]
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await drive_to(pathways, Stage.FOLLOW_UP)
    context = await browser.new_context(viewport={"width": 1366, "height": 900})
    page = await context.new_page()
    blocked: list[str] = []
    page.on("console", lambda m: blocked.append(m.text) if "Content Security" in m.text else None)
    await sign_in_as(page, base_url, demo_users[Role.OPS], "")
    await page.get_by_role("link", name="Service dashboard").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Service dashboard")
    await page.wait_for_load_state("networkidle")
    widths = await loaded_widths(page)
    assert len(widths) == 4 and all(w > 0 for w in widths), widths
    await page.screenshot(path=ARTIFACTS / "10-ops-dashboard.png", full_page=True)

    await page.get_by_role("link", name="Audit report", exact=True).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Audit report")
    await page.wait_for_load_state("networkidle")
    widths = await loaded_widths(page)
    assert len(widths) == 2 and all(w > 0 for w in widths), widths
    await page.screenshot(path=ARTIFACTS / "11-audit-report.png", full_page=True)
    assert blocked == []
    await context.close()


async def test_swagger_ui_renders_with_no_internet(base_url: str, browser: Browser) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = await browser.new_context(viewport={"width": 1366, "height": 900})
    page = await context.new_page()
    outside: list[str] = []

    async def only_the_app(route: Any) -> None:
        if route.request.url.startswith(base_url):
            await route.continue_()
        else:
            outside.append(route.request.url)
            await route.abort()

    await page.route("**/*", only_the_app)
    await page.goto(f"{base_url}/docs")
    await expect(page.locator(".swagger-ui .info .title")).to_contain_text("SIRT Pathway")
    await expect(page.get_by_text("/api/v1/pathways", exact=True).first).to_be_visible()
    await page.screenshot(path=ARTIFACTS / "12-swagger-offline.png")
    assert outside == []
    await context.close()

"""axe-core (via axe-playwright-python, which bundles it: nothing is downloaded) reports no
serious or critical violations on the app's pages, as each role sees them, including a form
showing its errors. A keyboard-only referral works."""

from typing import Any

from axe_playwright_python.async_playwright import Axe  # type: ignore[import-untyped]
from playwright.async_api import Browser, Page, expect

from models.vocab import Role, Stage
from tests import payloads
from tests.api.conftest import Login
from tests.browser.test_reports_browser import sign_in_as
from tests.browser.test_worklist_flow import ARTIFACTS, base_url, browser, pytestmark
from tests.journey import drive_to

__all__ = ["base_url", "browser", "pytestmark"]

AXE = Axe()


async def serious(page: Page) -> list[str]:
    """The serious and critical violations on the page, as 'rule: target' lines."""
    results = await AXE.run(page)
    # axe really ran its rules on this page (the app's CSP did not stop it).
    assert results.response["testEngine"]["name"] == "axe-core"
    assert len(results.response["passes"]) > 10
    return [
        f"{v['id']} ({v['impact']}): {', '.join(str(n['target']) for n in v['nodes'][:3])}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


async def test_no_serious_or_critical_violations_on_any_page(
    base_url: str, browser: Browser, pathways: Any, demo_users: dict[Role, Login]
) -> None:
    journey = await drive_to(pathways, Stage.WORKUP)
    pid = journey.id
    context = await browser.new_context(viewport={"width": 1366, "height": 900})
    page = await context.new_page()
    found: dict[str, list[str]] = {}

    async def check(url: str) -> None:
        await page.goto(base_url + url)
        await page.wait_for_load_state("networkidle")
        found[url] = await serious(page)

    await page.goto(base_url + "/login")
    found["/login"] = await serious(page)
    await sign_in_as(page, base_url, demo_users[Role.COORDINATOR], "My worklist")
    for url in (
        "/worklist",
        "/worklist?tab=team",
        "/pathways",
        "/pathways?q=Testpatient",
        f"/pathways/{pid}",
        "/pathways/new",
        f"/pathways/{pid}/steps/schedule-workup",
        f"/pathways/{pid}/steps/event",
    ):
        await check(url)
    # A form showing its errors.
    await page.goto(base_url + "/pathways/new")
    await page.get_by_role("button", name="Refer").click()
    await expect(page.get_by_role("heading", name="There is a problem")).to_be_visible()
    found["/pathways/new (errors)"] = await serious(page)
    await page.get_by_role("button", name="Sign out").click()

    await sign_in_as(page, base_url, demo_users[Role.MDT_CLINICIAN], "My worklist")
    await check(f"/pathways/{pid}/steps/mdt-decision")
    await page.get_by_role("button", name="Sign out").click()
    await sign_in_as(page, base_url, demo_users[Role.INTERVENTIONAL_RADIOLOGIST], "My worklist")
    await check(f"/pathways/{pid}/steps/workup")
    await page.get_by_role("button", name="Sign out").click()
    await sign_in_as(page, base_url, demo_users[Role.OPS], "")
    for url in ("/ops", "/audit", "/pathways"):
        await check(url)
    await context.close()
    assert {url: v for url, v in found.items() if v} == {}


async def tab_to(page: Page, target: Any, most: int = 60) -> None:
    """Press Tab until ``target`` has the focus (as a keyboard user would)."""
    for _ in range(most):
        if await target.evaluate("el => el === document.activeElement"):
            return
        await page.keyboard.press("Tab")
    await expect(target).to_be_focused()


async def test_a_keyboard_only_referral(
    base_url: str, browser: Browser, demo_users: dict[Role, Login]
) -> None:
    context = await browser.new_context(viewport={"width": 1366, "height": 900})
    page = await context.new_page()
    await sign_in_as(page, base_url, demo_users[Role.COORDINATOR], "My worklist")
    await page.goto(base_url + "/pathways/new")
    # Tab from the top of the page to the NHS number: skip link, navigation, then the form.
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()
    await page.keyboard.press("Enter")
    await tab_to(page, page.locator("#f-patient-nhs_number"))
    await page.keyboard.type(payloads.fresh_nhs_number())
    await page.keyboard.press("Tab")
    await page.keyboard.type("Keyboard")
    await page.keyboard.press("Tab")
    await page.keyboard.type("Kim")
    await page.keyboard.press("Tab")
    await page.keyboard.type("14/03/1958")
    await tab_to(page, page.locator("#f-primary_site"))
    await page.keyboard.type("midgut")
    await page.keyboard.press("Tab")
    await page.keyboard.type("2")
    await tab_to(page, page.get_by_role("button", name="Refer"))
    await page.keyboard.press("Enter")
    # Referred, with a triage task for what was not typed (Ki-67, CgA, referrer...).
    await expect(page.locator("#current-stage")).to_have_text("Referred")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("KEYBOARD, Kim")
    await expect(page.get_by_text("born 14 Mar 1958")).to_be_visible()
    await page.screenshot(path=ARTIFACTS / "13-keyboard-referral.png")
    await context.close()

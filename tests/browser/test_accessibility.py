"""axe-core (via axe-playwright-python, which bundles it: nothing is downloaded) reports no
serious or critical violations on the app's pages, as each role sees them, every step form
included, and forms showing their errors; the pages fetch nothing from outside the app (the
NHS.UK design system is served by the app itself). A keyboard-only referral works.
Each page's screenshot is kept in tests/artifacts/ (axe-<role>-<page>.png)."""

import re
import uuid
from typing import Any

from axe_playwright_python.async_playwright import Axe  # type: ignore[import-untyped]
from playwright.async_api import Browser, Page, expect

from api.permissions import allowed, step_action
from core.pathways import STEPS
from intake.service import Intake
from models.vocab import Role, Stage
from tests import payloads
from tests.api.conftest import Login
from tests.browser.test_reports_browser import sign_in_as
from tests.browser.test_worklist_flow import ARTIFACTS, base_url, browser, pytestmark
from tests.intake.messages import new_nhs_number, oru
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


def shot_name(role: str, url: str) -> str:
    """A screenshot's file name: the role, then the page's path without ids."""
    path = re.sub(r"pathway-[0-9a-f-]+", "pathway", url.split("?")[0]).strip("/") or "home"
    extra = "-" + url.split("=", 1)[1] if "=" in url else ""
    return f"axe-{role}-{path.replace('/', '-')}{extra}.png"


# Every step form, each signed in as the first role that may record it.
STEP_FORMS_BY_ROLE: dict[Role, list[str]] = {}
for _step in STEPS:
    _role = next(r for r in Role if allowed(r, step_action(_step)))
    STEP_FORMS_BY_ROLE.setdefault(_role, []).append(_step)


async def test_no_serious_or_critical_violations_on_any_page(
    base_url: str,
    browser: Browser,
    pathways: Any,
    demo_users: dict[Role, Login],
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    journey = await drive_to(pathways, Stage.WORKUP)
    pid = journey.id
    # A laboratory result for an NHS number with no pathway: the reconciliation page has a row.
    result = oru(
        f"LAB-AXE-{uuid.uuid4().hex[:6]}",
        new_nhs_number(190),
        await journey.today(),
        [("1742-6", "61", "U/L")],
    )
    await Intake(pathways.client, pathways.engine).receive_hl7(result)
    context = await browser.new_context(viewport={"width": 1366, "height": 900})
    page = await context.new_page()
    found: dict[str, list[str]] = {}
    # Offline and under the app's CSP: nothing is fetched from elsewhere (no CDN font), and
    # every stylesheet and icon the pages ask for is served.
    outside: list[str] = []
    missing: list[str] = []
    page.on(
        "request",
        lambda r: None if r.url.startswith(base_url) else outside.append(r.url),
    )
    page.on(
        "response",
        lambda r: missing.append(r.url) if "/static/" in r.url and r.status >= 400 else None,
    )
    role = "anonymous"

    async def check(url: str, status: int = 200) -> None:
        response = await page.goto(base_url + url)
        assert response is not None and response.status == status, url
        await page.wait_for_load_state("networkidle")
        found[f"{url} ({role})"] = await serious(page)
        name = shot_name(role, url).replace(".png", f"-{status}.png" if status != 200 else ".png")
        await page.screenshot(path=ARTIFACTS / name, full_page=True)

    await check("/login")
    for who in (Role.COORDINATOR, Role.MDT_CLINICIAN, Role.INTERVENTIONAL_RADIOLOGIST):
        role = who.value
        heading = "My worklist"
        await sign_in_as(page, base_url, demo_users[who], heading)
        pages = ["/worklist", "/pathways", f"/pathways/{pid}"]
        if who == Role.COORDINATOR:
            pages += [
                "/worklist?tab=team",
                "/pathways?q=Testpatient",
                "/pathways/new",
                "/intake",
                "/pathways/pathway-00000000-0000-4000-8000-000000000000",
            ]
        if who == Role.MDT_CLINICIAN:
            pages += ["/audit"]
        for url in pages:
            await check(url, 404 if url.endswith("0000") else 200)
        for step in STEP_FORMS_BY_ROLE.get(who, []):
            await check(f"/pathways/{pid}/steps/{step}")
        if who == Role.COORDINATOR:
            # A form showing its errors: the referral, empty.
            await page.goto(base_url + "/pathways/new")
            await page.get_by_role("button", name="Refer").click()
            await expect(page.get_by_role("heading", name="There is a problem")).to_be_visible()
            found["/pathways/new (errors)"] = await serious(page)
            await page.screenshot(
                path=ARTIFACTS / "axe-coordinator-referral-errors.png", full_page=True
            )
        if who == Role.MDT_CLINICIAN:
            # A date input showing its error: the 30th of February.
            await page.goto(base_url + f"/pathways/{pid}/steps/mdt-decision")
            await page.locator("#f-meeting_date").fill("30")
            await page.locator("#f-meeting_date-month").fill("2")
            await page.get_by_role("button", name="Save").click()
            await expect(page.locator("#f-meeting_date-error")).to_contain_text(
                "Meeting date must be a real date"
            )
            found["mdt-decision (date error)"] = await serious(page)
            await page.screenshot(path=ARTIFACTS / "axe-mdt-date-error.png", full_page=True)
        await page.get_by_role("button", name="Sign out").click()

    role = "physicist"
    await sign_in_as(page, base_url, demo_users[Role.PHYSICIST], "")
    for url in (
        "/pathways",
        f"/pathways/{pid}",
        *(f"/pathways/{pid}/steps/{s}" for s in STEP_FORMS_BY_ROLE[Role.PHYSICIST]),
    ):
        await check(url)
    await page.get_by_role("button", name="Sign out").click()
    role = "ops"
    await sign_in_as(page, base_url, demo_users[Role.OPS], "")
    for url in ("/ops", "/audit", "/pathways", f"/pathways/{pid}"):
        await check(url)
    await context.close()
    assert {url: v for url, v in found.items() if v} == {}
    assert outside == []
    assert missing == []


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

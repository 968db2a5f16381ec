"""A coordinator finds patients and is kept from losing one, in Chromium.

- the worklist shows what to do now: a treated patient's next visit, the other 13 collapsed;
- search finds a patient by NHS number typed with any spacing, and by family name; ops may
  only look pathways up by id;
- a second referral of a patient with an open pathway is refused with a link to it, and goes
  ahead only with a stated reason.
"""

import uuid
from typing import Any

from playwright.async_api import Browser, Page, expect

from models.vocab import Role, Stage
from tests import payloads
from tests.api.conftest import Login
from tests.browser.test_worklist_flow import (
    ARTIFACTS,
    base_url,
    browser,
    fill_referral,
    sign_in,
    task_row,
)
from tests.journey import drive_to

__all__ = ["base_url", "browser"]  # fixtures shared with the worklist story


LETTERS = str.maketrans("0123456789", "ghijklmnop")


def spaced(nhs_number: str) -> str:
    """An NHS number as people type it: 3-3-4 with spaces."""
    digits = nhs_number.replace(" ", "")
    return f"{digits[:3]} {digits[3:6]} {digits[6:]}"


async def refer(page: Page, base_url: str, nhs_number: str, family: str) -> None:
    """Fill in and send the referral form for a complete midgut NET referral."""
    await page.goto(f"{base_url}/pathways/new")
    await fill_referral(page, nhs_number, family)
    await page.get_by_role("button", name="Refer").click()


async def test_a_treated_patient_shows_the_next_visit_and_collapses_the_rest(
    base_url: str, browser: Browser, demo_users: dict[Role, Login], pathways: Any
) -> None:
    journey = await drive_to(pathways, Stage.FOLLOW_UP)
    page = await (await browser.new_context(viewport={"width": 1366, "height": 900})).new_page()
    await sign_in(page, base_url, demo_users[Role.COORDINATOR])
    await expect(page.get_by_text("Tasks due within 14 days, or overdue.")).to_be_visible()
    # Of fourteen scheduled visits, only the two-week call is on the list.
    await expect(task_row(page, journey.id, "follow_up_visit")).to_have_count(1)
    later = page.locator(f'tr[data-pathway-id="{journey.id}"] details.later summary')
    await expect(later).to_have_text("13 later tasks")
    await page.screenshot(path=ARTIFACTS / "20-worklist-horizon.png", full_page=True)


async def test_search_finds_a_patient_by_nhs_number_or_name_but_not_for_ops(
    base_url: str, browser: Browser, demo_users: dict[Role, Login]
) -> None:
    # Letters only: a search term with a digit in it is read as a date of birth.
    nhs, family = payloads.fresh_nhs_number(), "Find" + uuid.uuid4().hex[:8].translate(LETTERS)
    page = await (await browser.new_context(viewport={"width": 1366, "height": 900})).new_page()
    await sign_in(page, base_url, demo_users[Role.COORDINATOR])
    await refer(page, base_url, nhs, family)
    await expect(page.locator("#current-stage")).to_have_text("MDT review")
    pathway_id = page.url.rsplit("/", 1)[-1]

    for term in (spaced(nhs), nhs, family.lower()):
        await page.goto(f"{base_url}/pathways")
        await page.get_by_role("searchbox", name="Find a patient").fill(term)
        await page.get_by_role("button", name="Search").click()
        found = page.locator(f'tr[data-pathway-id="{pathway_id}"]')
        await expect(found).to_have_count(1)
        await expect(found).to_contain_text(family.upper())
        # The term was posted: it is never in the URL.
        assert nhs not in page.url and family.lower() not in page.url.lower()
    await page.screenshot(path=ARTIFACTS / "21-search-by-nhs-number.png", full_page=True)

    ops = await (await browser.new_context(viewport={"width": 1366, "height": 900})).new_page()
    await ops.goto(f"{base_url}/login")
    await ops.get_by_label("Username").fill(demo_users[Role.OPS].username)
    await ops.get_by_label("Password").fill(demo_users[Role.OPS].password)
    await ops.get_by_role("button", name="Sign in").click()
    await ops.goto(f"{base_url}/pathways")
    await expect(ops.get_by_role("searchbox", name="Find a patient")).to_have_count(0)
    await ops.get_by_role("searchbox", name="Find a pathway").fill(spaced(nhs))
    await ops.get_by_role("button", name="Search").click()
    await expect(ops.locator(f'tr[data-pathway-id="{pathway_id}"]')).to_have_count(0)
    await expect(ops.get_by_text(family.upper())).to_have_count(0)


async def test_a_second_referral_of_an_open_patient_needs_a_reason(
    base_url: str, browser: Browser, demo_users: dict[Role, Login]
) -> None:
    nhs = payloads.fresh_nhs_number()
    page = await (await browser.new_context(viewport={"width": 1366, "height": 900})).new_page()
    await sign_in(page, base_url, demo_users[Role.COORDINATOR])
    await refer(page, base_url, nhs, "Twice")
    await expect(page.locator("#current-stage")).to_have_text("MDT review")
    first = page.url.rsplit("/", 1)[-1]

    # The same NHS number again, typed with spaces and another name: refused, with a link.
    await refer(page, base_url, spaced(nhs), "Another")
    warning = page.locator("#duplicate")
    await expect(warning).to_contain_text("This patient already has an open pathway")
    await expect(warning.get_by_role("link", name="open the existing pathway")).to_have_attribute(
        "href", f"/pathways/{first}"
    )
    await page.screenshot(path=ARTIFACTS / "22-duplicate-referral.png", full_page=True)

    # A stated reason (a new primary) starts a second pathway deliberately.
    await page.fill("#f-second_pathway_reason", "New primary: pancreatic NET, separate MDT")
    await page.get_by_role("button", name="Refer").click()
    await expect(page.locator("#current-stage")).to_have_text("MDT review")
    second = page.url.rsplit("/", 1)[-1]
    assert second.startswith("pathway-") and second != first

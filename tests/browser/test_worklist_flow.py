"""A coordinator refers a patient, the MDT records its decision, the coordinator's worklist moves.

Debian's chromium driven by Playwright (never a downloaded browser), against the app served by
uvicorn in this process, on the real Temporal test server and PostgreSQL read model.
Screenshots go to tests/artifacts/.
"""

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from playwright.async_api import Browser, Page, async_playwright, expect
from temporalio.testing import WorkflowEnvironment

from api.main import serve_app
from core.devserver import free_port, port_is_open
from models.vocab import Role
from tests import payloads
from tests.api.conftest import Login, last_audit_id, make_app, referred_since

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")


@asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[str]:
    """The app served on a free loopback port; yields its base URL."""
    port = free_port()
    server = asyncio.create_task(serve_app(app, "127.0.0.1", port))
    try:
        for _ in range(200):
            if port_is_open("127.0.0.1", port):
                break
            await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.cancel()
        await asyncio.gather(server, return_exceptions=True)


@pytest.fixture
async def base_url(
    pathways: Any, workflow_env: WorkflowEnvironment, postgres_url: str, tmp_path: Path
) -> AsyncIterator[str]:
    """The app served on a free loopback port for the length of the test."""
    app = make_app(workflow_env, postgres_url, pathways.task_queue, tmp_path)
    engine = app.state.ctx.engine
    start = last_audit_id(engine)
    async with served(app) as url:
        yield url
    pathways.started.extend(referred_since(engine, start))


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield b
        await b.close()


async def sign_in(page: Page, base_url: str, who: Login) -> None:
    await page.goto(f"{base_url}/worklist")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await page.get_by_label("Username").fill(who.username)
    await page.get_by_label("Password").fill(who.password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="My worklist")).to_be_visible()


async def sign_out(page: Page) -> None:
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


async def fill_referral(page: Page, nhs_number: str, family: str) -> None:
    """Type a complete midgut NET referral into the referral form."""
    await page.fill("#f-patient-nhs_number", nhs_number)
    await page.fill("#f-patient-family_name", family)
    await page.fill("#f-patient-given_name", "Ada")
    await page.fill("#f-patient-date_of_birth", "03/02/1961")
    await page.select_option("#f-primary_site", "midgut")
    await page.select_option("#f-grade", "2")
    await page.fill("#f-ki67_pct", "7.5")
    await page.fill("#f-baseline_cga_ug_l", "380")
    await page.fill("#f-referrer", "Dr A Referrer")
    await page.fill("#f-referring_trust", "Example NHS Foundation Trust")


def task_row(page: Page, pathway_id: str, kind: str) -> Any:
    return page.locator(f'tr[data-pathway-id="{pathway_id}"][data-task-kind="{kind}"]')


async def test_refer_decide_and_the_worklist_moves(
    base_url: str, browser: Browser, demo_users: dict[Role, Login]
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    family = "Flow" + uuid.uuid4().hex[:6]
    context = await browser.new_context(viewport={"width": 1366, "height": 768})
    page = await context.new_page()

    # The coordinator refers a patient through the referral form.
    await sign_in(page, base_url, demo_users[Role.COORDINATOR])
    await page.get_by_role("link", name="Refer a patient").click()
    await fill_referral(page, payloads.fresh_nhs_number(), family)
    await page.screenshot(path=ARTIFACTS / "01-referral-form.png", full_page=True)
    await page.get_by_role("button", name="Refer").click()
    await expect(page.locator("#current-stage")).to_have_text("MDT review")
    await expect(page.get_by_role("heading", level=1)).to_contain_text(family.upper())
    pathway_id = page.url.rsplit("/", 1)[-1]
    assert pathway_id.startswith("pathway-")
    await page.screenshot(path=ARTIFACTS / "02-timeline-after-referral.png", full_page=True)

    # On the coordinator's worklist the MDT decision is waiting on others.
    await page.get_by_role("link", name="My worklist").click()
    await page.get_by_role("link", name=re.compile("Waiting on others")).click()
    await expect(task_row(page, pathway_id, "mdt_decision")).to_be_visible()
    await expect(task_row(page, pathway_id, "schedule_workup")).to_have_count(0)
    await page.screenshot(path=ARTIFACTS / "03-coordinator-worklist-before.png", full_page=True)
    await sign_out(page)

    # The MDT clinician records the decision from their worklist.
    await sign_in(page, base_url, demo_users[Role.MDT_CLINICIAN])
    row = task_row(page, pathway_id, "mdt_decision")
    await expect(row).to_contain_text(family.upper())
    await row.get_by_role("link", name="Record").click()
    await expect(page.get_by_role("heading", name="MDT selection decision")).to_be_visible()
    await page.get_by_label("The MDT is experienced in neuroendocrine tumours").check()
    await page.get_by_label("Attendees").fill("NET oncologist\nInterventional radiologist")
    await page.get_by_label("ECOG performance status (0-4)").select_option("1")
    await page.get_by_label("Child-Pugh score").select_option("5")
    await page.fill("#f-labs-bilirubin_umol_l", "12")
    await page.get_by_label("Decision", exact=True).select_option("proceed")
    await page.get_by_label("Consent obtained").check()
    await page.screenshot(path=ARTIFACTS / "04-mdt-decision-form.png", full_page=True)
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator("#current-stage")).to_have_text("Work-up")
    await expect(page.get_by_role("status")).to_contain_text("Recorded: MDT selection decision")
    await page.screenshot(path=ARTIFACTS / "05-timeline-after-mdt.png", full_page=True)
    await sign_out(page)

    # Back on the coordinator's worklist: the MDT task is gone, booking the work-up is there.
    await sign_in(page, base_url, demo_users[Role.COORDINATOR])
    await expect(task_row(page, pathway_id, "mdt_decision")).to_have_count(0)
    mine = page.locator("section", has=page.get_by_role("heading", name="My tasks"))
    booking = mine.locator(f'tr[data-pathway-id="{pathway_id}"][data-task-kind="schedule_workup"]')
    await expect(booking).to_contain_text("Book the work-up angiography")
    await page.screenshot(path=ARTIFACTS / "06-coordinator-worklist-after.png", full_page=True)
    await context.close()

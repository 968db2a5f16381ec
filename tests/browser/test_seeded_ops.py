"""`sirt demo seed` then /ops and /audit as the ops user sees them, with no as_of: the seeded
history ends today, so the dashboard's weeks and the audit report's curves are alive."""

from pathlib import Path

from playwright.async_api import Browser, expect
from temporalio.testing import WorkflowEnvironment

from api.seed import seed_demo_users
from cli.demo import (
    DEFAULT_CENTRE,
    DEMO_AFTER_LAST_REFERRAL_DAYS,
    DEMO_REFERRAL_DAYS,
    seed,
)
from core import clock
from core.db import get_engine
from core.pathways import centre_pathway_config
from demo.cohort import CohortConfig
from models.vocab import Role
from reports.dashboard import ops_dashboard
from tests.api.conftest import Login, make_app
from tests.browser.test_reports_browser import loaded_widths, sign_in_as
from tests.browser.test_worklist_flow import ARTIFACTS, browser, pytestmark, served

__all__ = ["browser", "pytestmark"]


async def test_the_seeded_dashboard_and_audit_report_are_alive_today(
    workflow_env: WorkflowEnvironment, browser: Browser, tmp_path: Path
) -> None:
    # A read model of its own: the seeded cohort is the only data in it.
    url = f"sqlite:///{tmp_path / 'seeded.db'}"
    cohort = CohortConfig(
        referral_spread_days=DEMO_REFERRAL_DAYS,
        last_day=DEMO_REFERRAL_DAYS + DEMO_AFTER_LAST_REFERRAL_DAYS,
    )  # as `sirt demo seed` runs it
    summary = await seed(url, 30, 7, DEFAULT_CENTRE, cohort, centre_pathway_config())
    engine = get_engine(url)
    users = {Role(role): (name, password) for name, password, role in seed_demo_users(engine)}
    app = make_app(workflow_env, url, "tq-seeded-ops", tmp_path)  # its clock: the pinned today
    try:
        async with served(app) as base:
            context = await browser.new_context(viewport={"width": 1366, "height": 900})
            page = await context.new_page()
            name, password = users[Role.OPS]
            await sign_in_as(page, base, Login(name, password, Role.OPS), "")
            await page.goto(f"{base}/ops")
            await expect(page.get_by_role("heading", level=1)).to_have_text("Service dashboard")
            await page.wait_for_load_state("networkidle")
            assert all(w > 0 for w in await loaded_widths(page))
            # As of today (no as_of): every seeded pathway counted, referrals and exits in the
            # dashboard's weeks, and open work.
            board = ops_dashboard(engine, clock.today())
            assert board.total_pathways == len(summary.ids)
            assert sum(w.entries for w in board.flow) > 0
            assert sum(t.open for t in board.tasks) > 0
            # Reminders due by now count as sent when due (the synthetic history has no recipients).
            assert board.reminders.pending == 0
            active = f"{board.active_pathways} active of {board.total_pathways}"
            await expect(page.locator("main")).to_contain_text(active)
            await page.screenshot(path=ARTIFACTS / "ops-seeded.png", full_page=True)
            await page.goto(f"{base}/audit")
            await page.wait_for_load_state("networkidle")
            assert all(w > 0 for w in await loaded_widths(page))
            await page.screenshot(path=ARTIFACTS / "audit-seeded.png", full_page=True)
            await context.close()
    finally:
        engine.dispose()

"""A physicist types a lung dose lower than the work-up implies into the dosimetry form in a real
browser: the form shows the Update's refusal next to the field and the pathway stays put.

Measured on the old main: 10 GBq with LSF 0.08 and a typed 5 Gy was accepted in the web form.
"""

from typing import Any

from playwright.async_api import Browser, expect

from models.vocab import Role, Stage
from tests.api.conftest import Login
from tests.api.test_dosimetry_refusals import REFUSAL, TEN_GBQ
from tests.browser.test_worklist_flow import ARTIFACTS, base_url, browser, pytestmark, sign_in
from tests.journey import drive_to

__all__ = ["base_url", "browser", "pytestmark"]


async def test_a_typed_lung_dose_below_the_computed_one_is_refused_on_the_form(
    pathways: Any, base_url: str, browser: Browser, demo_users: dict[Role, Login]
) -> None:
    j = await drive_to(pathways, Stage.DOSIMETRY_PLANNING)  # LSF 0.08, 1800 mL perfused
    context = await browser.new_context()
    page = await context.new_page()
    await sign_in(page, base_url, demo_users[Role.PHYSICIST])
    await page.goto(f"{base_url}/pathways/{j.id}/steps/dosimetry-plan")
    await page.locator("#f-device").select_option("resin_y90")
    await page.locator("#f-method").select_option("mird")
    for i, row in enumerate(TEN_GBQ):  # the injection positions are rows of the form
        await page.locator(f"#f-positions-{i}-position").fill(str(row["position"]))
        await page.locator(f"#f-positions-{i}-activity_gbq").fill(str(row["activity_gbq"]))
    await page.locator("#f-predicted_perfused_dose_gy").fill("246.47")
    await page.locator("#f-predicted_lung_dose_gy").fill("5")
    await page.locator("#f-physicist_signoff-physicist").fill("Medical Physicist")
    today = await j.today()  # the sign-off date: the NHS date input's day, month and year
    await page.locator("#f-physicist_signoff-signed_on").fill(str(today.day))
    await page.locator("#f-physicist_signoff-signed_on-month").fill(str(today.month))
    await page.locator("#f-physicist_signoff-signed_on-year").fill(str(today.year))
    await page.get_by_role("button", name="Save").click()
    error = page.locator("#f-predicted_lung_dose_gy-error")
    await expect(error).to_contain_text(REFUSAL)
    # The refused form shows the dose the pathway computed beside the one typed.
    hint = page.locator("#f-predicted_lung_dose_gy-hint")
    await expect(hint).to_have_text("Computed from the work-up and this plan: 39.74 Gy")
    await page.screenshot(path=ARTIFACTS / "dosimetry-refused.png", full_page=True)
    assert (await j.live()).stage == Stage.DOSIMETRY_PLANNING
    await context.close()


async def test_check_doses_shows_the_computed_doses_beside_the_typed_ones(
    pathways: Any, base_url: str, browser: Browser, demo_users: dict[Role, Login]
) -> None:
    j = await drive_to(pathways, Stage.DOSIMETRY_PLANNING)  # LSF 0.08, 1800 mL perfused
    context = await browser.new_context(viewport={"width": 1366, "height": 900})
    page = await context.new_page()
    await sign_in(page, base_url, demo_users[Role.PHYSICIST])
    await page.goto(f"{base_url}/pathways/{j.id}/steps/dosimetry-plan")
    await page.locator("#f-device").select_option("resin_y90")
    await page.locator("#f-method").select_option("mird")
    for i, row in enumerate(TEN_GBQ):
        await page.locator(f"#f-positions-{i}-position").fill(str(row["position"]))
        await page.locator(f"#f-positions-{i}-activity_gbq").fill(str(row["activity_gbq"]))
    await page.locator("#f-predicted_lung_dose_gy").fill("5")
    await page.get_by_role("button", name="Check doses").click()
    # Beside each typed dose, the dose the work-up and this plan imply (the Update's rule).
    lung_hint = page.locator("#f-predicted_lung_dose_gy-hint")
    await expect(lung_hint).to_have_text("Computed from the work-up and this plan: 39.74 Gy")
    perfused_hint = page.locator("#f-predicted_perfused_dose_gy-hint")
    await expect(perfused_hint).to_have_text("Computed from the work-up and this plan: 246.47 Gy")
    intro = page.locator("#intro")
    await expect(intro).to_contain_text("10.00 GBq, lung mass 1.00 kg")
    await expect(intro).to_contain_text("the plan would be refused: Lung dose (Gy): typed")
    # The typed figures come back, and nothing was recorded.
    await expect(page.locator("#f-predicted_lung_dose_gy")).to_have_value("5")
    await page.screenshot(path=ARTIFACTS / "dosimetry-check-doses.png", full_page=True)
    state = await j.live()
    assert state.stage == Stage.DOSIMETRY_PLANNING and state.plan is None
    await context.close()

"""Every step of the catalogue recorded through its form in a real browser, by a role allowed to
record it, on a pathway driven to where the step is allowed: the pathway page then shows the
outcome. A step added to the catalogue without a story here fails ``test_every_step_has_a_story``.

One Temporal test server, one worker, one app server and one chromium for the whole module; each
story drives its own pathway through the real Updates (tests/journey.py) and then types the
payload tests/payloads.py gives into the form, field by field, as a clinician would. axe-core
checks each filled form (no serious or critical violation).
"""

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from api.forms import FormField, fields_for, row_name
from api.main import serve_app
from api.templating import templates
from core.codec import encrypted_data_converter
from core.db import get_engine
from core.devserver import free_port, port_is_open
from core.temporal import ensure_search_attributes
from models.catalogue import BY_SLUG, CATALOGUE, StepSpec
from models.labels import label_for
from models.vocab import Role, Stage, TaskKind
from tests import payloads
from tests.api.conftest import Login, make_app
from tests.browser.test_accessibility import serious
from tests.browser.test_worklist_flow import ARGS, ARTIFACTS, CHROMIUM, pytestmark, sign_in
from tests.conftest import BIN, QUIET, TEST_KEY, Pathways
from tests.journey import Journey, drive_to, start
from tests.pinned import suite_now
from tests.readmodel import outcomes
from worker import build_worker

__all__ = ["pytestmark"]

Payload = dict[str, Any]
Prepare = Callable[[Pathways], Awaitable[tuple[Journey, Payload]]]


@dataclass(frozen=True)
class Story:
    """How to reach a step and what to type: the pathway and payload ``prepare`` gives, the
    fact it records and the stage the pathway is in after it."""

    prepare: Prepare
    records: str
    stage_after: Stage


async def _iso(j: Journey, days: int = 0) -> str:
    return (await j.today() + timedelta(days=days)).isoformat()


async def _triage(p: Pathways) -> tuple[Journey, Payload]:
    # The referral lacks the WHO grade; the coordinator types it in at triage.
    j = await start(p, grade=None)
    return j, {"complete": False, "supplied": {"grade": 2}}


async def _mdt(p: Pathways) -> tuple[Journey, Payload]:
    j = await start(p)
    return j, payloads.mdt(await j.today())


async def _schedule_workup(p: Pathways) -> tuple[Journey, Payload]:
    j = await drive_to(p, Stage.MDT_REVIEW)
    await j.step("mdt-decision", payloads.mdt(await j.today()))
    return j, {"scheduled_on": await _iso(j, 2)}


LESIONS = [{"lesion_id": "L1", "organ": "liver", "baseline_mm": 30, "nodal": False}]


async def _workup(p: Pathways) -> tuple[Journey, Payload]:
    j = await drive_to(p, Stage.MDT_REVIEW)
    await j.step("mdt-decision", payloads.mdt(await j.today()))
    await j.step("schedule-workup", {"scheduled_on": await _iso(j)})
    return j, payloads.workup(await j.today(), baseline_target_lesions=LESIONS)


async def _dosimetry(p: Pathways) -> tuple[Journey, Payload]:
    j = await drive_to(p, Stage.DOSIMETRY_PLANNING)
    return j, payloads.plan(await j.today())


async def _schedule_treatment(p: Pathways) -> tuple[Journey, Payload]:
    j = await drive_to(p, Stage.TREATMENT_SCHEDULED)
    return j, {"scheduled_on": await _iso(j, 3)}


async def _treatment(p: Pathways) -> tuple[Journey, Payload]:
    j = await drive_to(p, Stage.TREATMENT_SCHEDULED)
    await j.step("schedule-treatment", {"scheduled_on": await _iso(j)})
    return j, payloads.treatment(await j.today())


async def _amend(p: Pathways) -> tuple[Journey, Payload]:
    j = await drive_to(p, Stage.FOLLOW_UP)
    return j, {"performed_on": await _iso(j, -1), "reason": "Typed a day late"}


async def _visit(p: Pathways) -> tuple[Journey, Payload]:
    # Lesion L1 measured 30 mm at baseline: 21 mm now; the QLQ-C30 answered in part.
    j = await drive_to(p, Stage.FOLLOW_UP, workup={"baseline_target_lesions": LESIONS})
    await j.sleep(14)
    qlq = {1: 2, 2: 1, 9: 3, 19: 2, 29: 5, 30: 6}
    return j, payloads.visit("2w", await j.today(), target_lesions_mm={"L1": 21}, qlq_c30=qlq)


async def _event(p: Pathways) -> tuple[Journey, Payload]:
    j = await start(p)
    return j, {"kind": "withdrawal", "occurred_on": await _iso(j), "reason": "Chose to stop"}


async def _missed_two_visits(p: Pathways) -> Journey:
    j = await drive_to(p, Stage.FOLLOW_UP)
    await j.sleep(62)  # the 2- and 6-week visits' windows close unrecorded
    await j.live()
    return j


async def _close_task(p: Pathways) -> tuple[Journey, Payload]:
    j = await _missed_two_visits(p)
    chase = next(t for t in j.state.open_tasks if t.kind == TaskKind.CHASE_MISSED_VISIT)
    return j, {"task_id": chase.id, "note": "Rebooked by phone"}


async def _ltfu(p: Pathways) -> tuple[Journey, Payload]:
    j = await _missed_two_visits(p)
    return j, {"decision": "continue", "note": "Reached by phone"}


async def _reild(p: Pathways) -> tuple[Journey, Payload]:
    j = await drive_to(p, Stage.FOLLOW_UP)
    await j.sleep(42)
    labs = {"bilirubin_umol_l": 60, "albumin_g_l": 28}
    visit = payloads.visit("6w", await j.today(), labs=labs, ascites="new_or_worse")
    await j.step("follow-up-visit", visit)
    findings = {"clinical_signs": True, "treatment": "medical"}
    return j, {"findings": findings, "note": "Diuretics started"}


async def _pause(p: Pathways) -> tuple[Journey, Payload]:
    j = await start(p)
    return j, {"kind": "62-day", "start": await _iso(j), "reason": "Patient chose to wait"}


async def _resume(p: Pathways) -> tuple[Journey, Payload]:
    j, pause = await _pause(p)
    await j.step("pause-clock", pause)
    await j.sleep(3)
    return j, {"kind": "62-day", "end": await _iso(j)}


async def _external(p: Pathways) -> tuple[Journey, Payload]:
    j = await start(p)
    labs = {"bilirubin_umol_l": 14, "albumin_g_l": 40}
    return j, {"source": "manual", "collected_on": await _iso(j), "labs": labs}


async def _report_death(p: Pathways) -> tuple[Journey, Payload]:
    j = await start(p)
    return j, {"source": "manual", "died_on": await _iso(j)}


async def _confirm_death(p: Pathways) -> tuple[Journey, Payload]:
    j, reported = await _report_death(p)
    await j.step("report-death", reported)
    return j, {"confirmed": True, "died_on": reported["died_on"]}


STORIES: Mapping[str, Story] = {
    "triage": Story(_triage, "triage", Stage.MDT_REVIEW),
    "mdt-decision": Story(_mdt, "mdt_decision", Stage.WORKUP),
    "schedule-workup": Story(_schedule_workup, "schedule_workup", Stage.WORKUP),
    "workup": Story(_workup, "workup", Stage.DOSIMETRY_PLANNING),
    "dosimetry-plan": Story(_dosimetry, "dosimetry_plan", Stage.TREATMENT_SCHEDULED),
    "schedule-treatment": Story(
        _schedule_treatment, "schedule_treatment", Stage.TREATMENT_SCHEDULED
    ),
    "treatment": Story(_treatment, "treatment", Stage.FOLLOW_UP),
    "amend-treatment-date": Story(_amend, "treatment_date_amended", Stage.FOLLOW_UP),
    "follow-up-visit": Story(_visit, "follow_up_visit", Stage.FOLLOW_UP),
    "event": Story(_event, "withdrawal", Stage.WITHDRAWN),
    "close-task": Story(_close_task, "task_closed", Stage.FOLLOW_UP),
    "ltfu-review": Story(_ltfu, "ltfu_review", Stage.FOLLOW_UP),
    "reild-review": Story(_reild, "reild_review", Stage.FOLLOW_UP),
    "pause-clock": Story(_pause, "clock_paused", Stage.MDT_REVIEW),
    "resume-clock": Story(_resume, "clock_resumed", Stage.MDT_REVIEW),
    "external-results": Story(_external, "external_results", Stage.MDT_REVIEW),
    "report-death": Story(_report_death, "death_reported", Stage.MDT_REVIEW),
    "confirm-death": Story(_confirm_death, "death_confirmation", Stage.DECEASED),
}


def test_every_step_has_a_story() -> None:
    assert sorted(STORIES) == sorted(s.slug for s in CATALOGUE)


def role_for(spec: StepSpec) -> Role:
    """The role whose task the step completes, else one of the roles allowed to record it."""
    return spec.tasks[0].role if spec.tasks else min(spec.roles)


def typed(fields: list[FormField], payload: Mapping[str, Any]) -> dict[str, str | bool]:
    """The form inputs (by name) and what to type in each to submit ``payload``."""
    out: dict[str, str | bool] = {}
    for f in fields:
        value = payload.get(f.name.rsplit(".", 1)[-1])
        if value is None:
            continue
        if f.widget == "fieldset":
            out |= typed(f.children, {str(k): v for k, v in value.items()})
        elif f.widget == "rows":
            # A mapping's rows are its (key, value) pairs; a list's rows are its objects.
            short = [c.name.rsplit(".", 1)[-1] for c in f.children]
            rows = list(value.items()) if f.keyed else [[r.get(n) for n in short] for r in value]
            for i, cells in enumerate(rows):
                for column, cell in zip(f.children, cells, strict=True):
                    if cell is not None:
                        out[row_name(column, i)] = cell if isinstance(cell, bool) else str(cell)
        elif f.widget == "date":
            # The NHS date input: day, month and year boxes (a row's date cell stays one box).
            year, month, day = str(value).split("-")
            out |= {f"{f.name}-day": day, f"{f.name}-month": month, f"{f.name}-year": year}
        elif f.widget == "lines":
            out[f.name] = "\n".join(value)
        elif f.widget == "tristate":
            out[f.name] = "yes" if value else "no"
        elif f.widget == "checkbox":
            out[f.name] = bool(value)
        else:
            out[f.name] = str(value)
    return out


async def fill(page: Page, inputs: Mapping[str, str | bool]) -> None:
    """Type, pick and tick each input as a user would."""
    for name, value in inputs.items():
        field = page.locator(f'[name="{name}"]')
        tag = await field.evaluate("el => el.tagName.toLowerCase()")
        if isinstance(value, bool):
            await (field.check() if value else field.uncheck())
        elif tag == "select":
            await field.select_option(value)
        else:
            await field.fill(value)


@pytest.fixture(scope="module")
def module_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("every-step")


@pytest.fixture(scope="module")
async def shared_env() -> AsyncIterator[WorkflowEnvironment]:
    """One time-skipping server for the module, moved to the run's pinned instant."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(BIN / "temporal-test-server"),
        data_converter=encrypted_data_converter(TEST_KEY),
        runtime=QUIET,
    )
    await env.sleep(suite_now() - await env.get_current_time())
    await ensure_search_attributes(env.client)
    yield env
    await env.shutdown()


@dataclass
class Shared:
    """The module's worker queue, read model and the app serving them."""

    env: WorkflowEnvironment
    engine: Engine
    task_queue: str
    base_url: str


@pytest.fixture(scope="module")
async def shared(
    shared_env: WorkflowEnvironment, postgres_url: str, module_tmp: Path
) -> AsyncIterator[Shared]:
    engine = get_engine(postgres_url)
    task_queue = f"tq-{uuid.uuid4()}"
    app = make_app(shared_env, postgres_url, task_queue, module_tmp)
    port = free_port()
    with ThreadPoolExecutor(max_workers=8) as executor:
        async with build_worker(shared_env.client, engine, task_queue, executor):
            server = asyncio.create_task(serve_app(app, "127.0.0.1", port))
            for _ in range(200):
                if port_is_open("127.0.0.1", port):
                    break
                await asyncio.sleep(0.05)
            yield Shared(shared_env, engine, task_queue, f"http://127.0.0.1:{port}")
            server.cancel()
            await asyncio.gather(server, return_exceptions=True)


@pytest.fixture
async def story_pathways(shared: Shared) -> AsyncIterator[Pathways]:
    """This story's pathways on the shared worker; terminated when it ends, so their timers
    do not hold the shared clock."""
    p = Pathways(shared.env, shared.env.client, shared.task_queue, shared.engine)
    yield p
    await p.terminate_all()


@pytest.fixture(scope="module")
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield b
        await b.close()


@pytest.mark.parametrize("slug", [s.slug for s in CATALOGUE])
async def test_every_step_form_records_its_step(
    slug: str,
    shared: Shared,
    story_pathways: Pathways,
    chromium: Browser,
    demo_users: dict[Role, Login],
) -> None:
    spec, story = BY_SLUG[slug], STORIES[slug]
    j, payload = await story.prepare(story_pathways)
    role = role_for(spec)
    assert role in spec.roles
    context = await chromium.new_context(viewport={"width": 1366, "height": 900})
    page = await context.new_page()
    await sign_in(page, shared.base_url, demo_users[role])
    await page.goto(f"{shared.base_url}/pathways/{j.id}/steps/{slug}")
    await expect(page.get_by_role("heading", level=1)).to_have_text(spec.title)
    await fill(page, typed(fields_for(spec.payload), payload))
    await page.screenshot(path=ARTIFACTS / f"step-{slug}.png", full_page=True)
    assert await serious(page) == []  # axe-core: no serious or critical violation
    # Leave the last field first: in headless chromium a click on Save straight after typing
    # into a number input inside a table of rows submitted nothing (seen on the work-up form).
    await page.get_by_role("heading", level=1).click()
    async with page.expect_navigation(timeout=30_000):
        await page.get_by_role("button", name="Save").click()
    problem = page.locator("#error-summary")
    if await problem.count():
        await page.screenshot(path=ARTIFACTS / f"step-{slug}-refused.png", full_page=True)
        pytest.fail(f"{slug} refused: {await problem.inner_text()}")
    # Back on the pathway page: recorded, in the stage the step leads to, newest fact first.
    await expect(page.get_by_role("status")).to_contain_text(f"Recorded: {spec.title}.")
    stage = templates.env.filters["stage"](story.stage_after)
    await expect(page.locator("#current-stage")).to_have_text(stage)
    newest = page.locator("details.outcome summary strong").first
    await expect(newest).to_have_text(label_for(story.records))
    recorded = [o for o in outcomes(shared.engine, j.id) if o.kind == story.records]
    assert recorded, f"{slug}: nothing recorded as {story.records}"
    await context.close()

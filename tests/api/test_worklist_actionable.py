"""Worklists show what to do now: actionable tasks only, later visits collapsed under the
patient, days overdue, running waiting-time clocks, bulk snooze and acknowledge, and the
same counts as /ops.

Measured on main before this: one treated patient put 13 "Due" follow-up rows (up to five
years ahead) on the coordinator's worklist while /ops counted 1 open coordinator task, and a
breached 62-day clock showed nowhere on the patient's page or worklist row.
"""

import asyncio
import re
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import Session, col, select

from models.notifications import AckRow
from models.tables import PathwayRow, TaskRow
from models.users import TaskSnoozeRow
from models.vocab import Role, Stage
from tests.api.conftest import BASE, Api, Login, login
from tests.journey import drive_to

C, MDT = Role.COORDINATOR, Role.MDT_CLINICIAN


@pytest.fixture
async def browser(app: FastAPI) -> Any:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        yield http


def ours(worklist: dict[str, Any], pathway_id: str) -> list[dict[str, Any]]:
    return [i for i in worklist["items"] if i["pathway_id"] == pathway_id]


async def wait_for_read_model(api: Api, pathway_id: str, stage: Stage) -> None:
    for _ in range(200):
        with Session(api.engine) as session:
            row = session.get(PathwayRow, pathway_id)
        if row is not None and row.stage == stage:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the read model never showed {pathway_id} in {stage}")


def open_tasks(api: Api, pathway_id: str) -> list[TaskRow]:
    with Session(api.engine) as session:
        stmt = select(TaskRow).where(
            col(TaskRow.pathway_id) == pathway_id, col(TaskRow.state) == "open"
        )
        return sorted(session.exec(stmt).all(), key=lambda t: t.due_on)


async def test_a_treated_patient_shows_the_next_visit_and_collapses_the_rest(
    api: Api, pathways: Any
) -> None:
    journey = await drive_to(pathways, Stage.FOLLOW_UP)
    await wait_for_read_model(api, journey.id, Stage.FOLLOW_UP)
    today = await api.today()
    visits = open_tasks(api, journey.id)
    # Fourteen follow-up visits are scheduled up to five years ahead.
    assert [t.kind for t in visits] == ["follow_up_visit"] * 14
    assert visits[-1].due_on > today + timedelta(days=4 * 365)

    worklist = (await api.get(C, "/worklist")).json()
    assert worklist["horizon_days"] == 14
    # Only the two-week call is due within 14 days; the other 13 are one collapsed line.
    [shown] = ours(worklist, journey.id)
    assert date.fromisoformat(shown["due_on"]) <= today + timedelta(days=14)
    assert shown["id"] == visits[0].id
    [later] = [x for x in worklist["later"] if x["pathway_id"] == journey.id]
    assert later == {
        "pathway_id": journey.id,
        "tasks": 13,
        "next_due_on": visits[1].due_on.isoformat(),
    }


async def test_overdue_first_with_days_overdue_and_the_running_clock(api: Api) -> None:
    late = await api.refer()
    referred_on = await api.today()
    # The MDT decision is due 14 working days after referral; 25 days later it is overdue.
    await api.env.sleep(timedelta(days=25))
    fresh = await api.refer()
    today = await api.today()

    mdt = (await api.get(MDT, "/worklist")).json()
    ids = [i["pathway_id"] for i in mdt["items"] if i["pathway_id"] in (late, fresh)]
    assert ids == [late, fresh]
    [overdue] = ours(mdt, late)
    due = date.fromisoformat(overdue["due_on"])
    assert overdue["days_overdue"] == (today - due).days > 0
    assert ours(mdt, fresh)[0]["days_overdue"] == 0
    overdue_first = [i["days_overdue"] for i in mdt["items"] if not i["snoozed_until"]]
    assert overdue_first == sorted(overdue_first, reverse=True)

    # The 62-day clock started at referral (the 31-day one starts at the decision to treat):
    # its day count, breach date and PTL bucket.
    [c62] = overdue["clocks"]
    days = (today - referred_on).days
    assert (c62["kind"], c62["days_waited"], c62["ptl_bucket"]) == ("62-day", days, "0-28")
    assert c62["breach_date"] == (referred_on + timedelta(days=62)).isoformat()
    detail = (await api.get(C, f"/pathways/{late}")).json()
    assert detail["clocks"] == overdue["clocks"]


async def test_worklist_and_ops_agree_on_counts(api: Api, pathways: Any) -> None:
    await api.refer()
    await api.refer(grade=None)  # a triage task for the coordinator
    journey = await drive_to(pathways, Stage.FOLLOW_UP)
    await wait_for_read_model(api, journey.id, Stage.FOLLOW_UP)
    ops = (await api.get(Role.OPS, "/ops/dashboard")).json()["dashboard"]["tasks"]
    by_role = {t["role"]: t["open"] for t in ops}
    for role in (C, MDT, Role.INTERVENTIONAL_RADIOLOGIST, Role.PHYSICIST):
        worklist = (await api.get(role, "/worklist")).json()
        assert worklist["total"] == by_role.get(role.value, 0), role
    team = (await api.get(C, "/worklist/team")).json()
    assert team["total"] == sum(by_role.values())


async def test_worklist_page_tabs_counts_overdue_tag_and_clock(
    api: Api, browser: httpx.AsyncClient, demo_users: dict[Role, Login]
) -> None:
    pid = await api.refer()
    await api.env.sleep(timedelta(days=25))
    await login(browser, demo_users[MDT])
    html = (await browser.get("/worklist")).text
    mine = (await api.get(MDT, "/worklist")).json()
    assert re.search(rf"My tasks\s*<span[^>]*>\s*{mine['total']}\s*</span>", html), html
    row = re.search(rf'<tr data-pathway-id="{pid}".*?</tr>', html, re.S)
    assert row is not None
    item = ours(mine, pid)[0]
    assert f"{item['days_overdue']} days overdue" in row.group(0)
    c62 = item["clocks"][0]
    breach = date.fromisoformat(c62["breach_date"])
    assert f"62-day: day {c62['days_waited']}" in row.group(0)
    assert f"breach {breach:%d %b %Y}" in row.group(0)
    assert "PTL 0-28" in row.group(0)
    await login(browser, demo_users[C])
    page = (await browser.get(f"/pathways/{pid}")).text
    assert f"62-day: day {c62['days_waited']}" in page and f"breach {breach:%d %b %Y}" in page


async def test_bulk_snooze_and_acknowledge(
    api: Api, browser: httpx.AsyncClient, demo_users: dict[Role, Login]
) -> None:
    a = await api.refer()
    b = await api.refer()
    token = await login(browser, demo_users[MDT])
    tasks = [f"{a}/mdt_decision-1", f"{b}/mdt_decision-1"]
    r = await browser.post(
        "/worklist/bulk",
        data={"csrf_token": token, "task": tasks, "action": "snooze", "days": "3"},
    )
    assert r.status_code == 303
    assert "Snoozed 2 tasks" in (await browser.get("/worklist")).text
    with Session(api.engine) as session:
        snoozes = session.exec(
            select(TaskSnoozeRow).where(col(TaskSnoozeRow.pathway_id).in_([a, b]))
        ).all()
    assert sorted(s.pathway_id for s in snoozes) == sorted([a, b])
    r = await browser.post(
        "/worklist/bulk", data={"csrf_token": token, "task": tasks, "action": "acknowledge"}
    )
    assert r.status_code == 303
    assert "Acknowledged 2 tasks" in (await browser.get("/worklist")).text
    with Session(api.engine) as session:
        acks = session.exec(select(AckRow).where(col(AckRow.pathway_id).in_([a, b]))).all()
    assert sorted((k.pathway_id, k.task_id, k.by) for k in acks) == sorted(
        [(a, "mdt_decision-1", "mdt"), (b, "mdt_decision-1", "mdt")]
    )
    # Nothing chosen: a clear message, nothing changed.
    r = await browser.post("/worklist/bulk", data={"csrf_token": token, "action": "snooze"})
    assert r.status_code == 303
    assert "Choose at least one task" in (await browser.get("/worklist")).text

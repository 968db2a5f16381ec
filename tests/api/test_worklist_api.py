"""Worklists: per role, overdue first, then due; snoozed tasks last; the team view; stats."""

from datetime import date, timedelta
from typing import Any

from core.calendar import WorkingCalendar
from models.vocab import Role
from tests import payloads
from tests.api.conftest import NO_SUCH_PATHWAY, Api

CAL = WorkingCalendar()  # England, Europe/London: the default pathway calendar

C, MDT, IR = Role.COORDINATOR, Role.MDT_CLINICIAN, Role.INTERVENTIONAL_RADIOLOGIST


def mine(worklist: dict[str, Any], *pathway_ids: str) -> list[tuple[str, str]]:
    """(pathway, task kind) of the items of these pathways, in worklist order.

    The database is shared with other tests, so only our own pathways are compared.
    """
    return [
        (i["pathway_id"], i["kind"]) for i in worklist["items"] if i["pathway_id"] in pathway_ids
    ]


async def test_worklist_is_per_role_overdue_first_then_due(api: Api) -> None:
    late = await api.refer()
    due = date.fromisoformat((await api.get(C, f"/pathways/{late}")).json()["next_due_on"])
    # Past the overdue alarm: 08:00 on the first working day after the due date (on a Friday
    # due date, two calendar days later is still the weekend and the task not yet overdue).
    overdue_at = CAL.reminder_time(CAL.add_working_days(due, 1)) + timedelta(hours=1)
    await api.env.sleep(overdue_at - await api.env.get_current_time())
    fresh = await api.refer()
    triage = await api.refer(grade=None)

    mdt = (await api.get(MDT, "/worklist")).json()
    assert mdt["role"] == "mdt_clinician"
    assert mine(mdt, late, fresh, triage) == [(late, "mdt_decision"), (fresh, "mdt_decision")]
    items = {i["pathway_id"]: i for i in mdt["items"] if i["pathway_id"] in (late, fresh)}
    assert items[late]["overdue"] and not items[fresh]["overdue"]
    assert items[fresh]["due_on"] > (await api.today()).isoformat()
    assert items[fresh]["step"] == "mdt-decision"
    assert items[fresh]["patient"]["family_name"] == "Testpatient"
    overdue_flags = [i["overdue"] for i in mdt["items"]]
    assert overdue_flags == sorted(overdue_flags, reverse=True)

    coordinator = (await api.get(C, "/worklist")).json()
    assert mine(coordinator, late, fresh, triage) == [(triage, "triage_referral")]

    team = (await api.get(C, "/worklist/team")).json()
    assert team["role"] is None
    assert set(mine(team, late, fresh, triage)) == {
        (late, "mdt_decision"),
        (fresh, "mdt_decision"),
        (triage, "triage_referral"),
    }


async def test_snooze_moves_a_task_to_the_bottom_for_me_only(api: Api) -> None:
    a = await api.refer()
    b = await api.refer()
    before = mine((await api.get(MDT, "/worklist")).json(), a, b)
    first_id, first_task = before[0][0], "mdt_decision-1"
    r = await api.post(MDT, f"/tasks/{first_id}/{first_task}/snooze", {"days": 3})
    assert r.status_code == 200, r.text
    until = r.json()["snoozed_until"]
    after = (await api.get(MDT, "/worklist")).json()
    assert mine(after, a, b) == [before[1], before[0]]
    # The demo MDT user's snoozes from other tests at this pinned instant are still running.
    snoozed = [i for i in after["items"] if i["snoozed_until"]]
    assert after["items"][-len(snoozed) :] == snoozed  # every snoozed task is at the bottom
    [mine_snoozed] = [i for i in snoozed if i["pathway_id"] == first_id]
    assert mine_snoozed["snoozed_until"] == until
    other = b if first_id == a else a
    assert other not in [i["pathway_id"] for i in snoozed]
    audit = api.audit(first_id, "task:snooze")
    assert audit[-1].outcome == "ok" and audit[-1].username == "mdt"


async def test_snooze_expires(api: Api) -> None:
    a = await api.refer()
    await api.post(MDT, f"/tasks/{a}/mdt_decision-1/snooze", {"days": 1})
    await api.env.sleep(timedelta(days=2))
    item = next(
        i for i in (await api.get(MDT, "/worklist")).json()["items"] if i["pathway_id"] == a
    )
    assert item["snoozed_until"] is None


async def test_snooze_only_open_tasks_of_my_role(api: Api) -> None:
    pid = await api.refer()
    # The MDT decision is not on the coordinator's worklist.
    assert (await api.post(C, f"/tasks/{pid}/mdt_decision-1/snooze", {})).status_code == 404
    assert (await api.post(MDT, f"/tasks/{NO_SUCH_PATHWAY}/x-1/snooze", {})).status_code == 404
    bad = await api.post(MDT, f"/tasks/{pid}/mdt_decision-1/snooze", {"days": 0})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "days"]


async def test_completed_task_leaves_the_worklist(api: Api) -> None:
    pid = await api.refer()
    assert mine((await api.get(MDT, "/worklist")).json(), pid) == [(pid, "mdt_decision")]
    await api.step(MDT, pid, "mdt-decision", payloads.mdt(await api.today()))
    assert mine((await api.get(MDT, "/worklist")).json(), pid) == []
    assert mine((await api.get(C, "/worklist")).json(), pid) == [(pid, "schedule_workup")]


async def test_stats_are_aggregate(api: Api) -> None:
    await api.refer()
    r = await api.get(Role.OPS, "/stats")
    assert r.status_code == 200
    body = r.json()
    assert body["total"] >= 1
    assert sum(s["pathways"] for s in body["by_stage"]) == body["total"]
    assert "Testpatient" not in r.text and "943" not in r.text

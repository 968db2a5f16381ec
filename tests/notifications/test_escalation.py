"""The escalation ladder on simulated time: it climbs when configured and stops on an ack."""

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from api.accounts import create_user, issue_token
from cli.notify import notify_app
from core.calendar import CalendarConfig
from models.config import PathwayConfig, StepPolicy
from models.notifications import DeliveryRow, NotificationRow
from models.tables import OutboxRow
from models.users import AuditEventRow
from models.vocab import MessageKind, Role, Stage, TaskKind, TimeoutAction
from notifications.ack import AckError, AckNotYours, acknowledge, acknowledgements
from notifications.config import NotifyConfig
from notifications.delivery import build_senders, deliver_once
from tests.journey import Journey, drive_to
from tests.notifications.support import Hooks, Mailbox, notify_config

# The MDT decision: due in 14 days, overdue the next day, the lead told one day later,
# the service manager at four days overdue.
LADDER = PathwayConfig(
    steps={
        **PathwayConfig().steps,
        TaskKind.MDT_DECISION: StepPolicy(
            role=Role.MDT_CLINICIAN,
            due_days=14,
            reminder_days_before=(3, 0),
            escalate_after_days=1,
            timeout_after_days=4,
            timeout_action=TimeoutAction.ESCALATE,
        ),
    }
)


def at(day: date, hour: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


async def until(j: Journey, when: datetime) -> datetime:
    """Move simulated time to ``when`` (the workflow fires its alarms on the way)."""
    now = await j.env.get_current_time()
    assert when > now
    await j.env.sleep(when - now)
    return await j.env.get_current_time()


async def deliver(engine: Engine, cfg: NotifyConfig, now: datetime) -> None:
    async with httpx.AsyncClient() as http:
        await deliver_once(engine, cfg, build_senders(cfg, http), now)


def received(box: Mailbox, hook: Hooks, pathway_id: str) -> list[tuple[str, str, str]]:
    """(channel, kind, send_at) of every message a person received for the pathway."""
    mails = [
        ("mail", str(m["Subject"]).split(":")[0].lower(), str(m["Date"]))
        for m in box.inbox.values()
        if str(m["X-SIRT-Idempotency-Key"]).startswith(pathway_id)
    ]
    hooks = [
        (path, d["kind"], d["send_at"])
        for path in ("/lead", "/manager")
        for d in hook.at(path)
        if d["pathway_id"] == pathway_id
    ]
    return sorted(mails) + hooks


async def test_the_ladder_climbs_on_time_and_stops_when_acknowledged(
    pathways: Any, db_url: str, mail: tuple[Mailbox, int], hooks: tuple[Hooks, str]
) -> None:
    (box, port), (hook, base) = mail, hooks
    cfg = notify_config(port, base)
    engine = pathways.engine
    j = await drive_to(pathways, Stage.MDT_REVIEW, LADDER)
    [task] = j.state.open_tasks
    due = task.due_on

    # Overdue: the assignee (MDT clinician) has had two reminders and the overdue notice.
    await deliver(engine, cfg, await until(j, at(due + timedelta(days=1), 12)))
    kinds = [k for channel, k, _ in received(box, hook, j.id) if channel == "mail"]
    assert sorted(kinds) == ["overdue", "reminder", "reminder"]
    # An hour before the configured escalation time the lead has heard nothing.
    await deliver(engine, cfg, await until(j, at(due + timedelta(days=2)) - timedelta(hours=1)))
    assert [r for r in received(box, hook, j.id) if r[0] != "mail"] == []
    # Then the pathway lead, at exactly one day overdue.
    await deliver(engine, cfg, await until(j, at(due + timedelta(days=2), 9)))
    assert [r for r in received(box, hook, j.id) if r[0] != "mail"] == [
        ("/lead", "escalation", at(due + timedelta(days=2)).isoformat())
    ]

    # The lead (who has no login) rings the MDT clinician, who acknowledges through the CLI
    # as themselves, on the lead's behalf: the ladder stops before the service manager.
    result = CliRunner().invoke(
        notify_app,
        ["ack", j.id, task.id, "--by", "dr.lead", "--note", "extra MDT slot on Thursday"],
        env={"DATABASE_URL": db_url, "SIRT_TOKEN": mdt_token(engine)},
    )
    assert result.exit_code == 0, result.output
    await deliver(engine, cfg, await until(j, at(due + timedelta(days=6), 9)))
    assert [r for r in received(box, hook, j.id) if r[0] == "/manager"] == []
    assert len(received(box, hook, j.id)) == 4

    # The timeout was written by the workflow and deliberately suppressed, not lost.
    with Session(engine) as session:
        [timeout] = session.exec(
            select(NotificationRow).where(
                col(NotificationRow.pathway_id) == j.id, col(NotificationRow.kind) == "timeout"
            )
        ).all()
        assert timeout.state == "suppressed"
        deliveries = session.exec(
            select(DeliveryRow).where(col(DeliveryRow.key) == timeout.key)
        ).all()
        # The manager's two channels (webhook and mail): neither was tried.
        assert [(d.state, d.last_error, d.attempts) for d in deliveries] == 2 * [
            ("suppressed", "acknowledged", 0)
        ]
    # The acknowledgement is the audit record: who, when, for which due date, and why.
    [ack] = acknowledgements(engine, j.id)
    assert (ack.task_id, ack.due_on, ack.by, ack.note) == (
        task.id,
        due,
        "dr.lead (entered by mdt.okoro)",
        "extra MDT slot on Thursday",
    )
    # And it is in the audit trail, as the API's acknowledgements are.
    with Session(engine) as session:
        audited = session.exec(
            select(AuditEventRow).where(col(AuditEventRow.pathway_id) == j.id)
        ).all()
    assert [(a.username, a.action, a.outcome, a.detail) for a in audited] == [
        ("mdt.okoro", "task:ack", "ok", "cli, on behalf of an escalation recipient")
    ]


def mdt_token(engine: Engine) -> str:
    """A token for an MDT clinician, who may acknowledge the MDT decision's escalation."""
    create_user(engine, "mdt.okoro", "mdt_clinician", "a-long-password", replace=True)
    return issue_token(engine, "mdt.okoro")


async def test_an_ack_is_refused_for_an_unknown_or_closed_task(pathways: Any, db_url: str) -> None:
    j = await drive_to(pathways, Stage.WORKUP)
    closed = next(t for t in j.state.tasks.values() if t.kind == TaskKind.MDT_DECISION)
    with pytest.raises(AckError, match="not open"):
        acknowledge(pathways.engine, j.id, closed.id, "dr.lead")
    with pytest.raises(AckError, match="by:"):
        acknowledge(pathways.engine, j.id, closed.id, " ")
    env = {"DATABASE_URL": db_url, "SIRT_TOKEN": mdt_token(pathways.engine)}
    result = CliRunner().invoke(notify_app, ["ack", j.id, "no-such-task"], env=env)
    assert result.exit_code == 2 and "no task 'no-such-task'" in result.output


async def test_a_cli_ack_runs_as_a_named_user_of_the_tasks_role(pathways: Any, db_url: str) -> None:
    j = await drive_to(pathways, Stage.MDT_REVIEW)
    [task] = j.state.open_tasks  # the MDT decision, the MDT clinician's
    runner = CliRunner()
    anonymous = runner.invoke(notify_app, ["ack", j.id, task.id], env={"DATABASE_URL": db_url})
    assert anonymous.exit_code == 3 and "say who you are" in anonymous.output
    create_user(pathways.engine, "phys.adeyemi", "physicist", "a-long-password")
    physicist = {"DATABASE_URL": db_url, "SIRT_TOKEN": issue_token(pathways.engine, "phys.adeyemi")}
    refused = runner.invoke(notify_app, ["ack", j.id, task.id], env=physicist)
    assert refused.exit_code == 3 and "only that role" in refused.output
    assert acknowledgements(pathways.engine, j.id) == []
    with Session(pathways.engine) as session:
        audited = session.exec(
            select(AuditEventRow).where(col(AuditEventRow.pathway_id) == j.id)
        ).all()
    assert [(a.username, a.outcome) for a in audited] == [("phys.adeyemi", "denied")]


async def test_the_role_an_escalation_went_to_may_acknowledge_it_and_no_other(
    pathways: Any,
) -> None:
    # This centre escalates overdue tasks to its coordinators (an app role).
    config = PathwayConfig(calendar=CalendarConfig(), escalation_role=Role.COORDINATOR)
    j = await drive_to(pathways, Stage.MDT_REVIEW, config=config)
    [task] = j.state.open_tasks  # the MDT decision: the MDT clinician's
    engine = pathways.engine
    with pytest.raises(AckNotYours):  # not escalated yet: not the coordinator's to silence
        acknowledge(engine, j.id, task.id, "coord.jones", role=Role.COORDINATOR)

    await j.sleep(30)  # 14 working days to the due date, then 2 more to the escalation
    for _ in range(200):
        if escalations(engine, j.id):
            break
        await asyncio.sleep(0.05)
    assert escalations(engine, j.id) == [Role.COORDINATOR]
    with pytest.raises(AckNotYours):  # a physicist still may not
        acknowledge(engine, j.id, task.id, "phys.adeyemi", role=Role.PHYSICIST)
    done = acknowledge(engine, j.id, task.id, "coord.jones", role=Role.COORDINATOR)
    assert (done.task_id, done.by) == (task.id, "coord.jones")


def escalations(engine: Engine, pathway_id: str) -> list[str]:
    """Whom the pathway's escalation messages were addressed to."""
    with Session(engine) as session:
        stmt = select(OutboxRow.recipient_role).where(
            col(OutboxRow.pathway_id) == pathway_id,
            col(OutboxRow.kind) == MessageKind.ESCALATION,
        )
        return list(session.exec(stmt).all())

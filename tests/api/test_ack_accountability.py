"""Acknowledging a task's escalation is accountable: the right role, an open task, its own
pathway, and an audit row either way.

Measured before: a physicist acknowledged a coordinator's task; none of 13 acknowledgements
was in the audit trail.
"""

from models.vocab import Role
from notifications.ack import acknowledgements
from tests import payloads
from tests.api.conftest import Api

ACK = "/pathways/{pid}/tasks/{task}/ack"


async def test_only_the_tasks_role_may_acknowledge_it_and_every_attempt_is_audited(
    api: Api,
) -> None:
    pid = await api.refer()  # opens mdt_decision-1, an MDT clinician's task
    url = ACK.format(pid=pid, task="mdt_decision-1")
    for other in (Role.PHYSICIST, Role.COORDINATOR, Role.INTERVENTIONAL_RADIOLOGIST):
        refused = await api.post(other, url, {"note": "not mine"})
        assert refused.status_code == 403, refused.text
        assert "only that role or the role its escalation went to" in refused.json()["detail"]
    assert acknowledgements(api.engine, pid) == []

    ok = await api.post(Role.MDT_CLINICIAN, url, {"note": "extra MDT slot on Thursday"})
    assert ok.status_code == 200, ok.text
    assert [a.by for a in acknowledgements(api.engine, pid)] == ["mdt"]
    trail = [(e.username, e.role, e.outcome, e.detail) for e in api.audit(pid, "task:ack")]
    assert trail == [
        ("physicist", "physicist", "denied", "task mdt_decision-1"),
        ("coordinator", "coordinator", "denied", "task mdt_decision-1"),
        ("radiologist", "interventional_radiologist", "denied", "task mdt_decision-1"),
        ("mdt", "mdt_clinician", "ok", "task mdt_decision-1"),
    ]


async def test_a_closed_task_or_another_pathways_task_cannot_be_acknowledged(api: Api) -> None:
    first = await api.refer()
    second = await api.refer(referrer_reference="second-referral")
    today = await api.today()
    done = await api.step(Role.MDT_CLINICIAN, first, "mdt-decision", payloads.mdt(today))
    assert done.status_code == 200, done.text

    closed = await api.post(Role.MDT_CLINICIAN, ACK.format(pid=first, task="mdt_decision-1"), {})
    assert closed.status_code == 409
    assert "not open" in closed.json()["detail"]
    # A task id from one pathway means nothing on another: the id is looked up on its own.
    elsewhere = await api.post(
        Role.MDT_CLINICIAN, ACK.format(pid=second, task="workup_schedule-1"), {}
    )
    assert elsewhere.status_code == 409
    assert acknowledgements(api.engine, first) == acknowledgements(api.engine, second) == []
    assert [e.outcome for e in api.audit(first, "task:ack")] == ["conflict"]
    assert [e.outcome for e in api.audit(second, "task:ack")] == ["conflict"]

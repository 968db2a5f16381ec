"""Every list in a payload has a length bound: too many items is a 422 naming the field."""

from models.vocab import Role
from tests import payloads
from tests.api.conftest import Api


async def test_an_overlong_list_is_refused_naming_the_field(api: Api) -> None:
    pid = await api.refer()
    today = await api.today()
    before = api.row(pid)
    crowded = payloads.mdt(today, attendees=[f"attendee {i}" for i in range(51)])
    r = await api.step(Role.MDT_CLINICIAN, pid, "mdt-decision", crowded)
    assert r.status_code == 422
    assert [e["loc"][-1] for e in r.json()["detail"]] == ["attendees"]
    wordy = payloads.mdt(today, attendees=["x" * 201])
    r = await api.step(Role.MDT_CLINICIAN, pid, "mdt-decision", wordy)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"][-2:] == ["attendees", 0]
    assert api.row(pid) == before
    body = payloads.referral().model_dump(mode="json")
    body["prior_therapies"] = body["prior_therapies"] * 51
    r = await api.post(Role.COORDINATOR, "/pathways", body)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"][-1] == "prior_therapies"

"""Free text never reaches ops: measured before, a withdrawal reason holding a name and an NHS
number was shown to ops in the timeline, the list and the page."""

from models.vocab import Role
from tests.api.conftest import Api, Login, login

# Passes the identifier screen (no NHS number, not the patient's name), but is still free text.
REASON = "Moved to Dr Okafor's care in Harrogate"


async def test_ops_see_withheld_where_free_text_was_written(
    api: Api, demo_users: dict[Role, Login]
) -> None:
    pid = await api.refer()
    today = await api.today()
    r = await api.post(
        Role.COORDINATOR, f"/pathways/{pid}/withdraw", {"occurred_on": str(today), "reason": REASON}
    )
    assert r.status_code == 200, r.text

    mine = (await api.get(Role.COORDINATOR, f"/pathways/{pid}")).json()
    assert REASON in str(mine)  # the care team still reads what was written

    for role in (Role.OPS, Role.ADMIN):
        detail = await api.get(role, f"/pathways/{pid}")
        listed = await api.get(role, "/pathways")
        for body in (detail.text, listed.text):
            for fragment in ("Okafor", "Harrogate"):
                assert fragment not in body
        seen = detail.json()
        assert seen["exit_reason"] in (None, "[withheld]")
        assert all(h["reason"] in (None, "[withheld]") for h in seen["history"])
        withdrawal = [o for o in seen["outcomes"] if o["data"].get("kind") == "withdrawal"]
        assert withdrawal and withdrawal[0]["data"]["reason"] == "[withheld]"

    # Nor in anything ops read in bulk: the dashboard, the audit report, its CSV, the metrics.
    scraped = await api.http.get("/metrics", headers=api.auth(Role.OPS))
    for path in ("/ops/dashboard", "/audit-report", "/audit-report.csv"):
        r = await api.get(Role.OPS, path)
        assert r.status_code == 200, (path, r.text)
        assert "Okafor" not in r.text and "Harrogate" not in r.text, path
    assert scraped.status_code == 200 and "sirt_pathways" in scraped.text
    assert "Okafor" not in scraped.text and "Harrogate" not in scraped.text

    await login(api.http, demo_users[Role.OPS])
    page = await api.http.get(f"/pathways/{pid}")
    assert page.status_code == 200
    assert "Okafor" not in page.text
    listing = await api.http.get("/pathways")
    assert "Okafor" not in listing.text


async def test_free_text_naming_the_patient_or_an_nhs_number_is_refused(api: Api) -> None:
    pid = await api.refer()
    today = str(await api.today())
    before = api.row(pid)
    for reason, found in [
        ("Patient 943 476 5919 asked to stop", "it contains what looks like an NHS number"),
        ("Zebedee asked to stop", "it contains the patient's name"),
        ("mr TESTPATIENT declined", "it contains the patient's name"),
    ]:
        r = await api.post(
            Role.COORDINATOR, f"/pathways/{pid}/withdraw", {"occurred_on": today, "reason": reason}
        )
        assert r.status_code == 422, r.text
        [error] = r.json()["detail"]
        assert error["loc"][-1] == "reason"
        assert error["label"] == "Reason"
        assert error["msg"] == (
            f"Reason: {found}: remove the patient identifier from this free text "
            "(say what happened, not who)"
        )
    assert api.row(pid) == before
    assert [e.outcome for e in api.audit(pid, "step:event")][-3:] == ["invalid"] * 3

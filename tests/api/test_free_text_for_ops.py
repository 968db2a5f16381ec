"""Free text never reaches ops: measured before, a withdrawal reason holding a name and an NHS
number was shown to ops in the timeline, the list and the page."""

from models.vocab import Role
from tests.api.conftest import Api, Login, login

REASON = "Mrs Jane Example (NHS 485 777 3456) moved to another trust"


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
            for fragment in ("Jane Example", "485 777 3456", "moved to another trust"):
                assert fragment not in body
        seen = detail.json()
        assert seen["exit_reason"] in (None, "[withheld]")
        assert all(h["reason"] in (None, "[withheld]") for h in seen["history"])
        withdrawal = [o for o in seen["outcomes"] if o["data"].get("kind") == "withdrawal"]
        assert withdrawal and withdrawal[0]["data"]["reason"] == "[withheld]"

    await login(api.http, demo_users[Role.OPS])
    page = await api.http.get(f"/pathways/{pid}")
    assert page.status_code == 200
    assert "Jane Example" not in page.text and "485 777 3456" not in page.text
    listing = await api.http.get("/pathways")
    assert "Jane Example" not in listing.text

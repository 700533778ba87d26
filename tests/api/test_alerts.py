"""Alerts: raised by system administrators, shown to the accounts and users they are addressed to."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from cloudpbx.store import gregorian_now
from tests.helpers import Client, unique


@pytest.fixture(scope="module")
def world(master):
    c = master.create_account(master.account_id, unique("Alerted C"))
    x = master.create_account(master.account_id, unique("Alerted X"))
    c_admin = master.admin_of(c["id"])
    c_admin.create(
        c["id"], "users", {"first_name": "Una", "last_name": "User", "username": "una", "password": "una-pass-1"}
    )
    c_user = Client(master.base)
    c_user.login("una", "una-pass-1", account_realm=c["realm"])
    return SimpleNamespace(master=master, c=c, x=x, c_admin=c_admin, c_user=c_user, x_admin=master.admin_of(x["id"]))


def raise_alert(master: Client, to: list[dict], **fields) -> dict:
    body = {
        "title": unique("Maintenance"),
        "message": "Calls may drop tonight",
        "from": [{"type": "account", "value": master.account_id}],
        "to": to,
        **fields,
    }
    return master.create(master.account_id, "alerts", body)


def titles(client: Client, account_id: str) -> set[str]:
    resp = client.get(f"accounts/{account_id}/alerts")
    assert resp.status_code == 200, resp.text
    return {alert["title"] for alert in resp.json()["data"]}


def test_alerts_reach_whom_they_are_addressed_to(world):
    c_id = world.c["id"]
    everyone = raise_alert(world.master, [{"type": "all", "value": "all"}])
    admins = raise_alert(world.master, [{"type": c_id, "value": "admins"}])
    una = raise_alert(world.master, [{"type": c_id, "value": world.c_user.owner_id}])
    expired = raise_alert(world.master, [{"type": "all", "value": "all"}], expiration_date=gregorian_now() - 60)
    assert everyone["level"] == "info"
    assert {everyone["title"], admins["title"]} <= titles(world.c_admin, c_id)
    assert una["title"] not in titles(world.c_admin, c_id)
    user_sees = titles(world.c_user, c_id)
    assert {everyone["title"], una["title"]} <= user_sees and admins["title"] not in user_sees
    x_sees = titles(world.x_admin, world.x["id"])
    assert everyone["title"] in x_sees and not {admins["title"], una["title"]} & x_sees
    assert expired["title"] not in titles(world.c_admin, c_id) | x_sees
    assert world.c_admin.get(f"accounts/{c_id}/alerts/{admins['id']}").json()["data"]["title"] == admins["title"]
    assert world.x_admin.get(f"accounts/{world.x['id']}/alerts/{admins['id']}").status_code == 404
    assert expired["title"] in titles(world.master, world.master.account_id), "system admins see every alert"


def test_only_system_administrators_raise_and_remove_alerts(world):
    c_id = world.c["id"]
    alert = raise_alert(world.master, [{"type": c_id, "value": "all"}])
    refused = world.c_admin.put(f"accounts/{c_id}/alerts", {"title": "Fake", "message": "x", "from": [], "to": []})
    assert refused.status_code == 403
    assert world.c_admin.delete(f"accounts/{c_id}/alerts/{alert['id']}").status_code == 403
    assert alert["title"] in titles(world.c_admin, c_id) and "Fake" not in titles(world.master, world.master.account_id)
    removed = world.master.delete(f"accounts/{world.master.account_id}/alerts/{alert['id']}")
    assert removed.status_code == 200 and removed.json()["data"]["_read_only"] == {"deleted": True}
    assert alert["title"] not in titles(world.c_admin, c_id)
    assert world.c_admin.get(f"accounts/{c_id}/alerts/{alert['id']}").status_code == 404


def test_invalid_alerts_are_refused(world):
    master, path = world.master, f"accounts/{world.master.account_id}/alerts"
    before = titles(master, master.account_id)
    missing = master.put(path, {"message": "no title", "from": [], "to": []})
    assert missing.status_code == 400 and "required" in missing.json()["data"]["title"]
    wrong = master.put(path, {"title": "Bad", "message": "m", "from": [], "to": "everyone"})
    assert wrong.status_code == 400 and "type" in wrong.json()["data"]["to"]
    assert titles(master, master.account_id) == before


def test_a_sibling_cannot_read_them(world):
    for resp in (
        world.x_admin.get(f"accounts/{world.c['id']}/alerts"),
        world.c_admin.get(f"accounts/{world.x['id']}/alerts"),
    ):
        assert resp.status_code == 403

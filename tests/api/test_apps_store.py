"""The apps store: the catalog an account sees, installs per account and user, and the blacklist a reseller imposes."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.helpers import Client, unique


def login_apps(master: Client, realm: str, username: str, password: str) -> set[str]:
    """The names of the apps a login returns for this user."""
    return {app["name"] for app in Client(master.base).login(username, password, account_realm=realm)["data"]["apps"]}


def app_names(resp) -> set[str]:
    assert resp.status_code == 200, resp.text
    return {app["name"] for app in resp.json()["data"]}


@pytest.fixture(scope="module")
def world(master):
    r = master.create_account(master.account_id, unique("Apps Reseller"))
    assert master.put(f"accounts/{r['id']}/reseller").status_code == 200
    c = master.create_account(r["id"], unique("Apps Customer"))
    x = master.create_account(r["id"], unique("Apps Sibling"))
    catalog = master.get(f"accounts/{r['id']}/apps_store").json()["data"]
    return SimpleNamespace(
        r=r,
        c=c,
        x=x,
        r_admin=master.admin_of(r["id"]),
        c_admin=master.admin_of(c["id"]),
        x_admin=master.admin_of(x["id"]),
        app={a["name"]: a["id"] for a in catalog},
    )


def test_the_catalog_shows_install_state_as_monster_ui_reads_it(world):
    apps = {app["name"]: app for app in world.c_admin.get(f"accounts/{world.c['id']}/apps_store").json()["data"]}
    assert {"voip", "callflows", "accounts", "webhooks"} <= set(apps)
    assert apps["voip"]["allowed_users"] == "all" and apps["voip"]["users"] == []
    assert "allowed_users" not in apps["accounts"], "admin-only apps start uninstalled"
    for app in apps.values():
        assert len(app["id"]) == 32, "app ids look like document ids, never like a noun"
        assert app["i18n"]["en-US"]["label"] == app["label"] and app["source_url"]
    one = world.c_admin.get(f"accounts/{world.c['id']}/apps_store/{world.app['voip']}")
    assert one.status_code == 200 and one.json()["data"]["name"] == "voip"
    missing = world.c_admin.get(f"accounts/{world.c['id']}/apps_store/{'0' * 32}")
    assert missing.status_code == 404 and missing.json()["message"] == "bad_identifier"


def test_install_update_and_uninstall(master, world):
    base, app = f"accounts/{world.c['id']}/apps_store", world.app
    installed = world.c_admin.put(f"{base}/{app['accounts']}", {"allowed_users": "admins"})
    assert installed.status_code == 201, installed.text
    assert installed.json()["data"] == {"name": "accounts", "allowed_users": "admins", "users": []}
    again = world.c_admin.put(f"{base}/{app['accounts']}", {"allowed_users": "all"})
    assert again.status_code == 400 and again.json()["message"] == "Application already installed"
    assert world.c_admin.get(f"{base}/{app['accounts']}").json()["data"]["allowed_users"] == "admins"

    for first, username in (("Cleo", "cleo"), ("Otto", "otto")):
        world.c_admin.create(
            world.c["id"],
            "users",
            {"first_name": first, "last_name": "Store", "username": username, "password": f"{username}-pass-1"},
        )
    cleo = Client(master.base)
    cleo.login("cleo", "cleo-pass-1", account_realm=world.c["realm"])
    changed = world.c_admin.post(f"{base}/{app['voip']}", {"allowed_users": "specific", "users": [cleo.owner_id]})
    assert changed.status_code == 200
    assert changed.json()["data"]["users"] == [{"id": cleo.owner_id}]
    assert "voip" in login_apps(master, world.c["realm"], "cleo", "cleo-pass-1")
    otto_apps = login_apps(master, world.c["realm"], "otto", "otto-pass-1")
    assert "voip" not in otto_apps and "accounts" not in otto_apps and "callflows" in otto_apps

    removed = world.c_admin.delete(f"{base}/{app['voip']}")
    assert removed.status_code == 200 and removed.json()["data"] == {}
    assert "allowed_users" not in world.c_admin.get(f"{base}/{app['voip']}").json()["data"]
    for resp in (
        world.c_admin.delete(f"{base}/{app['voip']}"),
        world.c_admin.post(f"{base}/{app['voip']}", {"allowed_users": "all"}),
    ):
        assert resp.status_code == 400 and resp.json()["message"] == "Application is not installed"
    admin_apps = login_apps(master, world.c["realm"], "admin", "pass-word-1")
    assert "voip" not in admin_apps and "accounts" in admin_apps


def test_bad_install_data_changes_nothing(world):
    base, app = f"accounts/{world.c['id']}/apps_store", world.app
    before = world.c_admin.get(base).json()["data"]
    bad = world.c_admin.put(f"{base}/{app['carriers']}", {"allowed_users": "everyone"})
    assert bad.status_code == 400 and "enum" in bad.json()["data"]["allowed_users"]
    bad_users = world.c_admin.post(f"{base}/{app['numbers']}", {"allowed_users": "specific", "users": "all of them"})
    assert bad_users.status_code == 400 and "type" in bad_users.json()["data"]["users"]
    unknown = world.c_admin.put(f"{base}/{'0' * 32}", {"allowed_users": "all"})
    assert unknown.status_code == 403 and unknown.json()["message"] == "forbidden"
    assert world.c_admin.get(base).json()["data"] == before


def test_a_resellers_blacklist_binds_its_descendants_not_itself(master, world):
    r_base, c_base, app = f"accounts/{world.r['id']}/apps_store", f"accounts/{world.c['id']}/apps_store", world.app
    assert world.r_admin.get(f"{r_base}/blacklist").json()["data"] == {"blacklist": []}
    set_list = world.r_admin.post(f"{r_base}/blacklist", {"blacklist": [app["webhooks"], app["pbxs"]]})
    assert set_list.status_code == 200
    assert set_list.json()["data"] == {"blacklist": sorted([app["webhooks"], app["pbxs"]])}
    try:
        assert {"webhooks", "pbxs"} <= app_names(world.r_admin.get(r_base))
        assert not {"webhooks", "pbxs"} & app_names(world.c_admin.get(c_base))
        assert world.c_admin.get(f"{c_base}/{app['webhooks']}").status_code == 404
        refused = world.c_admin.put(f"{c_base}/{app['webhooks']}", {"allowed_users": "all"})
        assert refused.status_code == 403 and refused.json()["data"]["details"] == app["webhooks"]
        assert "webhooks" not in login_apps(master, world.c["realm"], "admin", "pass-word-1")
        for resp in (
            world.c_admin.get(f"{r_base}/blacklist"),
            world.c_admin.post(f"{r_base}/blacklist", {"blacklist": []}),
        ):
            assert resp.status_code == 403
        own = world.c_admin.post(f"{c_base}/blacklist", {"blacklist": [app["callflows"]]})
        assert own.status_code == 200 and "callflows" in app_names(world.c_admin.get(c_base))
        assert world.c_admin.post(f"{c_base}/blacklist", {"blacklist": []}).status_code == 200
    finally:
        world.r_admin.post(f"{r_base}/blacklist", {"blacklist": []})
    assert "webhooks" in app_names(world.c_admin.get(c_base))


def test_bad_blacklists_change_nothing(world):
    base, voip = f"accounts/{world.r['id']}/apps_store/blacklist", world.app["voip"]
    assert world.r_admin.post(base, {"blacklist": [voip]}).status_code == 200
    try:
        for body in ({"blacklist": [voip, "0" * 32]}, {"blacklist": voip}, {"blacklist": [7]}):
            resp = world.r_admin.post(base, body)
            assert resp.status_code == 400 and resp.json()["message"] == "validation error", resp.text
        assert world.r_admin.get(base).json()["data"] == {"blacklist": [voip]}
    finally:
        world.r_admin.post(base, {"blacklist": []})


def test_a_sibling_cannot_read_or_change_the_store(world):
    base, app = f"accounts/{world.c['id']}/apps_store", world.app
    before = world.c_admin.get(base).json()["data"]
    for resp in (
        world.x_admin.get(base),
        world.x_admin.get(f"{base}/{app['voip']}"),
        world.x_admin.put(f"{base}/{app['carriers']}", {"allowed_users": "all"}),
        world.x_admin.post(f"{base}/{app['callflows']}", {"allowed_users": "admins"}),
        world.x_admin.delete(f"{base}/{app['callflows']}"),
        world.x_admin.get(f"{base}/blacklist"),
        world.x_admin.post(f"{base}/blacklist", {"blacklist": [app["voip"]]}),
    ):
        assert resp.status_code == 403, resp.text
    assert world.c_admin.get(base).json()["data"] == before

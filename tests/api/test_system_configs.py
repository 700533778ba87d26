"""System configs: platform-wide settings that only system administrators read and write, effective at once."""

from __future__ import annotations

import pytest

from tests.helpers import unique


@pytest.fixture(scope="module")
def tenant_admin(master):
    account = master.create_account(master.account_id, unique("Configs Tenant"))
    return master.admin_of(account["id"])


def category() -> str:
    return unique("test_cat").replace(" ", "_")


def test_create_read_replace_and_delete_a_category(master):
    name = category()
    path = f"system_configs/{name}"
    assert master.get(path).status_code == 404
    created = master.put(path, {"default": {"flag": True}, "node1@host": {"flag": False}})
    assert created.status_code == 201, created.text
    assert created.json()["data"] == {"default": {"flag": True}, "node1@host": {"flag": False}, "id": name}
    assert name in master.get("system_configs").json()["data"]
    assert master.put(path, {"default": {}}).status_code == 409
    replaced = master.post(path, {"default": {"flag": "yes"}})
    assert replaced.status_code == 200
    assert master.get(path).json()["data"] == {"default": {"flag": "yes"}, "id": name}
    deleted = master.delete(path)
    assert deleted.status_code == 200 and deleted.json()["data"]["_read_only"] == {"deleted": True}
    assert master.get(path).status_code == 404
    assert name not in master.get("system_configs").json()["data"]
    for resp in (master.delete(path), master.post(path, {"default": {}})):
        assert resp.status_code == 404 and resp.json()["message"] == "bad_identifier"


def test_invalid_settings_change_nothing(master):
    name = category()
    path = f"system_configs/{name}"
    bad = master.put(path, {"default": "not an object"})
    assert bad.status_code == 400 and "type" in bad.json()["data"]["default"]
    assert master.get(path).status_code == 404
    assert master.put(path, {"default": {"kept": 1}}).status_code == 201
    revision = master.get(path).json()["revision"]
    assert master.post(path, ["not", "an", "object"]).status_code == 400
    assert master.post(path, envelope={"auth_token": master.token}).status_code == 400
    after = master.get(path).json()
    assert after["data"]["default"] == {"kept": 1} and after["revision"] == revision
    master.delete(path)


SECRET = "not for tenants!"  # spaces and "!" never occur in a token or request id, so a match is a leak


def test_only_system_administrators_see_or_change_them(master, tenant_admin):
    name = category()
    assert master.put(f"system_configs/{name}", {"default": {"secret": SECRET}}).status_code == 201
    try:
        for resp in (
            tenant_admin.get("system_configs"),
            tenant_admin.get(f"system_configs/{name}"),
            tenant_admin.post(f"system_configs/{name}", {"default": {}}),
            tenant_admin.delete(f"system_configs/{name}"),
            tenant_admin.put(f"system_configs/{category()}", {"default": {}}),
        ):
            assert resp.status_code == 403, resp.text
            assert SECRET not in resp.text
        assert master.get(f"system_configs/{name}").json()["data"]["default"] == {"secret": SECRET}
        assert len([c for c in master.get("system_configs").json()["data"] if c.startswith("test_cat")]) >= 1
        assert tenant_admin.get(f"accounts/{tenant_admin.account_id}/system_configs").status_code == 404
    finally:
        master.delete(f"system_configs/{name}")


def test_a_change_takes_effect_at_once(master, tenant_admin):
    """The `limits` defaults come from system config; the cache must not hide a change."""
    limits = f"accounts/{tenant_admin.account_id}/limits"
    assert tenant_admin.get(limits).json()["data"]["burst_trunks"] == 0
    assert master.put("system_configs/limits", {"default": {"burst_trunks": 2}}).status_code == 201
    try:
        assert tenant_admin.get(limits).json()["data"]["burst_trunks"] == 2
        assert master.post("system_configs/limits", {"default": {"burst_trunks": 3}}).status_code == 200
        assert tenant_admin.get(limits).json()["data"]["burst_trunks"] == 3
    finally:
        assert master.delete("system_configs/limits").status_code == 200
    assert tenant_admin.get(limits).json()["data"]["burst_trunks"] == 0

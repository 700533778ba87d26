"""The accounts tree: create, name and realm rules, replace/patch, delete, tree views, api key, resellers, move."""

from __future__ import annotations

import re

import pytest

from tests.helpers import Client, unique

METADATA_KEYS = {
    "billing_mode",
    "enabled",
    "superduper_admin",
    "wnm_allow_additions",
    "created",
    "is_reseller",
    "reseller_id",
}


def ids(resp) -> list[str]:
    assert resp.status_code == 200, resp.text
    return [row["id"] for row in resp.json()["data"]]


@pytest.fixture(scope="module")
def family(master):
    """master → top → (mid → leaf, other); `top`'s admin is logged in."""
    top = master.create_account(master.account_id, unique("Top"))
    mid = master.create_account(top["id"], unique("Mid"))
    leaf = master.create_account(mid["id"], unique("Leaf"))
    other = master.create_account(top["id"], unique("Other"))
    return {"top": top, "mid": mid, "leaf": leaf, "other": other, "top_admin": master.admin_of(top["id"])}


# create ---------------------------------------------------------------------------------------------------------------


def test_create_under_a_parent(master):
    parent = master.create_account(master.account_id)
    resp = master.put(f"accounts/{parent['id']}", {"name": unique("Child"), "timezone": "Europe/Paris"})
    assert resp.status_code == 201, resp.text
    child = resp.json()["data"]
    assert resp.headers["location"] == child["id"] and re.fullmatch(r"[0-9a-f]{32}", child["id"])
    suffix = re.escape(parent["realm"].split(".", 1)[1])
    assert re.fullmatch(rf"[0-9a-f]{{6}}\.{suffix}", child["realm"]), child["realm"]
    assert child["timezone"] == "Europe/Paris" and child["enabled"] is True
    assert ids(master.get(f"accounts/{parent['id']}/children")) == [child["id"]]
    assert master.get(f"accounts/{child['id']}/parents").json()["data"][-1]["id"] == parent["id"]


def test_put_on_bare_accounts_creates_under_the_caller(master):
    parent = master.create_account(master.account_id)
    admin = master.admin_of(parent["id"])
    resp = admin.put("accounts", {"name": unique("Bare")})
    assert resp.status_code == 201, resp.text
    assert ids(admin.get(f"accounts/{parent['id']}/children")) == [resp.json()["data"]["id"]]
    assert admin.get("accounts").status_code == 405


def test_names_are_unique_after_normalising(master):
    name = unique("Acme Widgets")
    master.create_account(master.account_id, name)
    clash = master.put(f"accounts/{master.account_id}", {"name": "  " + name.upper().replace(" ", "-") + "!"})
    assert clash.status_code == 400
    body = clash.json()
    assert body["message"] == "validation error" and "unique" in body["data"]["name"]
    assert master.put(f"accounts/{master.account_id}", {"name": name + "x"}).status_code == 201


def test_realms_are_unique_ignoring_case(master):
    realm = unique("realm").replace(" ", "-") + ".example.com"
    created = master.create_account(master.account_id, realm=realm)
    assert created["realm"] == realm
    clash = master.put(f"accounts/{master.account_id}", {"name": unique("Realm"), "realm": realm.upper()})
    assert clash.status_code == 400
    assert clash.json()["data"]["realm"]["unique"]["cause"] == realm
    other = master.create_account(master.account_id)
    taken = master.patch(f"accounts/{other['id']}", {"realm": realm.title()})
    assert taken.status_code == 400 and "unique" in taken.json()["data"]["realm"]


def test_privileged_fields_from_the_client_are_ignored(master):
    sneaky = master.create_account(
        master.account_id, superduper_admin=True, billing_mode="limits", wnm_allow_additions=True, is_reseller=True
    )
    assert sneaky["superduper_admin"] is False and sneaky["billing_mode"] == "manual"
    assert sneaky["wnm_allow_additions"] is False and sneaky["is_reseller"] is False
    admin = master.admin_of(sneaky["id"])
    assert admin.get(f"accounts/{master.account_id}").status_code == 403
    patched = admin.patch(
        f"accounts/{sneaky['id']}",
        {"superduper_admin": True, "billing_mode": "limits", "pvt_superduper_admin": True, "pvt_tree": [], "_id": "x"},
    )
    assert patched.json()["data"]["superduper_admin"] is False and patched.json()["data"]["billing_mode"] == "manual"
    assert admin.get(f"accounts/{master.account_id}").status_code == 403
    assert ids(master.get(f"accounts/{sneaky['id']}/parents")) == [master.account_id]


# read, replace, patch ------------------------------------------------------------------------------------------------


def test_get_carries_the_metadata_envelope(master):
    account = master.create_account(master.account_id)
    body = master.get(f"accounts/{account['id']}").json()
    assert set(body["metadata"]) == METADATA_KEYS
    assert body["metadata"]["reseller_id"] == master.account_id and body["metadata"]["enabled"] is True
    assert body["revision"] and body["data"]["id"] == account["id"]
    assert not any(k.startswith(("pvt_", "_")) for k in body["data"])


def test_post_replaces_patch_merges_and_null_removes(master):
    account = master.create_account(master.account_id, org="Org One", language="fr-FR", custom={"a": 1, "b": 2})
    path = f"accounts/{account['id']}"
    replaced = master.post(path, {"name": account["name"], "org": "Org Two"}).json()["data"]
    assert replaced["org"] == "Org Two" and "language" not in replaced and "custom" not in replaced
    assert replaced["realm"] == account["realm"]
    patched = master.patch(path, {"language": "de-DE", "custom": {"a": 1, "b": 2}}).json()["data"]
    assert patched["org"] == "Org Two" and patched["language"] == "de-DE"
    removed = master.patch(path, {"org": None, "custom": {"a": None}}).json()["data"]
    assert "org" not in removed and removed["custom"] == {"b": 2} and removed["language"] == "de-DE"
    assert master.get(path).json()["data"] == removed
    missing_name = master.post(path, {"org": "No Name"})
    assert missing_name.status_code == 400 and "required" in missing_name.json()["data"]["name"]


# delete ---------------------------------------------------------------------------------------------------------------


def test_delete_needs_no_descendants_and_never_the_master(master):
    parent = master.create_account(master.account_id)
    child = master.create_account(parent["id"])
    refused = master.delete(f"accounts/{parent['id']}")
    assert refused.status_code == 500 and refused.json()["message"] == "account_has_descendants"
    child_admin = master.admin_of(child["id"])
    deleted = master.delete(f"accounts/{child['id']}")
    assert deleted.status_code == 200 and deleted.json()["data"]["_read_only"] == {"deleted": True}
    assert master.get(f"accounts/{child['id']}").status_code == 404
    assert child_admin.get(f"accounts/{child['id']}/users").status_code == 401
    assert master.delete(f"accounts/{parent['id']}").status_code == 200
    gone = master.delete(f"accounts/{master.account_id}")
    assert gone.status_code == 405 and gone.json()["message"] == "invalid_method"
    assert master.get(f"accounts/{master.account_id}").status_code == 200


def test_account_ids_are_checked(master):
    assert master.get("accounts/not-an-id").status_code == 404
    unknown = master.get(f"accounts/{'0' * 32}")
    assert unknown.status_code == 404 and unknown.json()["message"] == "bad_identifier"


# tree views -----------------------------------------------------------------------------------------------------------


def test_children_and_descendants(family, master):
    top, mid, leaf, other = (family[k] for k in ("top", "mid", "leaf", "other"))
    admin = family["top_admin"]
    children = admin.get(f"accounts/{top['id']}/children").json()["data"]
    assert {c["id"]: c["descendants_count"] for c in children} == {mid["id"]: 1, other["id"]: 0}
    assert {"id", "name", "realm"} <= set(children[0])
    below = {d["id"]: d for d in admin.get(f"accounts/{top['id']}/descendants").json()["data"]}
    assert set(below) == {mid["id"], leaf["id"], other["id"]}
    assert below[leaf["id"]]["tree"] == [top["id"], mid["id"]]  # nothing above the caller
    full = {d["id"]: d["tree"] for d in master.get(f"accounts/{top['id']}/descendants").json()["data"]}
    assert full[leaf["id"]] == [master.account_id, top["id"], mid["id"]]


def test_siblings(family, master):
    admin = family["top_admin"]
    assert ids(admin.get(f"accounts/{family['mid']['id']}/siblings")) == [family["other"]["id"]]
    own = admin.get(f"accounts/{family['top']['id']}/siblings")
    assert own.status_code == 403 and own.json()["message"] == "forbidden"
    top_siblings = ids(master.get(f"accounts/{family['top']['id']}/siblings"))
    assert top_siblings and family["top"]["id"] not in top_siblings
    assert ids(master.get(f"accounts/{master.account_id}/siblings")) == []


def test_parents_and_tree_stop_at_the_caller(family, master):
    admin = family["top_admin"]
    top, mid, leaf = family["top"], family["mid"], family["leaf"]
    for view in ("parents", "tree"):
        assert ids(admin.get(f"accounts/{leaf['id']}/{view}")) == [top["id"], mid["id"]]
        assert ids(admin.get(f"accounts/{top['id']}/{view}")) == []
        assert ids(master.get(f"accounts/{leaf['id']}/{view}")) == [master.account_id, top["id"], mid["id"]]
    names = admin.get(f"accounts/{leaf['id']}/tree").json()["data"]
    assert names == [{"id": top["id"], "name": top["name"]}, {"id": mid["id"], "name": mid["name"]}]


# api key and resellers ------------------------------------------------------------------------------------------------


def test_api_key_read_and_regenerate(family):
    admin = family["top_admin"]
    path = f"accounts/{family['mid']['id']}/api_key"
    key = admin.get(path).json()["data"]["api_key"]
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    new = admin.put(path)
    assert new.status_code == 200 and new.json()["data"]["api_key"] != key
    assert admin.get(path).json()["data"]["api_key"] == new.json()["data"]["api_key"]
    assert "api_key" not in admin.get(f"accounts/{family['mid']['id']}").json()["data"]


def test_reseller_promotion_is_for_superduper_only_and_cascades(master):
    reseller = master.create_account(master.account_id)
    client = master.create_account(reseller["id"])
    sub = master.create_account(client["id"])
    admin = master.admin_of(reseller["id"])
    denied = admin.put(f"accounts/{client['id']}/reseller")
    assert denied.status_code == 403
    assert admin.put(f"accounts/{reseller['id']}/reseller").status_code == 403
    promoted = master.put(f"accounts/{reseller['id']}/reseller")
    assert promoted.status_code == 200 and promoted.json()["data"]["is_reseller"] is True
    for account_id in (client["id"], sub["id"]):
        body = master.get(f"accounts/{account_id}").json()
        assert body["data"]["reseller_id"] == reseller["id"] and body["metadata"]["reseller_id"] == reseller["id"]
        assert body["data"]["is_reseller"] is False
    assert master.put(f"accounts/{sub['id']}/reseller").status_code == 200
    nested = master.put(f"accounts/{client['id']}/reseller")
    assert nested.status_code == 500 and nested.json()["message"] == "account_has_descendants"
    assert master.put(f"accounts/{master.account_id}/reseller").status_code == 403
    assert admin.delete(f"accounts/{reseller['id']}/reseller").status_code == 403
    demoted = master.delete(f"accounts/{reseller['id']}/reseller")
    assert demoted.status_code == 200 and demoted.json()["data"]["is_reseller"] is False
    assert master.get(f"accounts/{client['id']}").json()["data"]["reseller_id"] == master.account_id


def test_login_reports_the_reseller(server, master):
    reseller = master.create_account(master.account_id)
    master.put(f"accounts/{reseller['id']}/reseller")
    client = master.create_account(reseller["id"])
    data = master.admin_of(client["id"]).get(f"accounts/{client['id']}").json()["data"]
    assert data["reseller_id"] == reseller["id"]
    admin = Client(server[0])
    body = admin.login("admin", "pass-word-1", account_name=client["name"])
    assert body["data"]["reseller_id"] == reseller["id"] and body["data"]["is_reseller"] is False


# move -----------------------------------------------------------------------------------------------------------------


def test_move_is_for_superduper_and_rewrites_the_moved_subtree(master):
    old_parent = master.create_account(master.account_id)
    new_parent = master.create_account(master.account_id)
    moved = master.create_account(old_parent["id"])
    below = master.create_account(moved["id"])
    deepest = master.create_account(below["id"])
    old_admin, new_admin = master.admin_of(old_parent["id"]), master.admin_of(new_parent["id"])
    sibling = master.create_account(old_parent["id"])
    denied = old_admin.post(f"accounts/{moved['id']}/move", {"to": sibling["id"]})
    assert denied.status_code == 403
    into_self = master.post(f"accounts/{moved['id']}/move", {"to": deepest["id"]})
    assert into_self.status_code == 403
    assert master.post(f"accounts/{moved['id']}/move", {"to": "x"}).status_code == 400

    done = master.post(f"accounts/{moved['id']}/move", {"to": new_parent["id"]})
    assert done.status_code == 200, done.text
    assert ids(master.get(f"accounts/{deepest['id']}/tree")) == [
        master.account_id,
        new_parent["id"],
        moved["id"],
        below["id"],
    ]
    trees = {d["id"]: d["tree"] for d in new_admin.get(f"accounts/{new_parent['id']}/descendants").json()["data"]}
    assert trees == {
        moved["id"]: [new_parent["id"]],
        below["id"]: [new_parent["id"], moved["id"]],
        deepest["id"]: [new_parent["id"], moved["id"], below["id"]],
    }
    assert ids(new_admin.get(f"accounts/{deepest['id']}/parents")) == [new_parent["id"], moved["id"], below["id"]]
    assert ids(old_admin.get(f"accounts/{old_parent['id']}/descendants")) == [sibling["id"]]
    assert ids(old_admin.get(f"accounts/{old_parent['id']}/children")) == [sibling["id"]]
    for account_id in (moved["id"], below["id"], deepest["id"]):
        assert old_admin.get(f"accounts/{account_id}").status_code == 403
        assert new_admin.get(f"accounts/{account_id}").status_code == 200

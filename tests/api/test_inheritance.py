"""Inherited settings resolve device → user → account → ancestors (nearest first) → system config → fallback.

Seen through `GET devices/{id}?include_inherited=true` (and users), which shows `_read_only.inherited`.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def tree(master) -> dict[str, str]:
    """grandparent → parent → account, with a user and their device in the account; only the top sets timezone."""
    grand = master.create_account(master.account_id, timezone="Europe/Berlin")["id"]
    parent = master.create_account(grand)["id"]
    account = master.create_account(parent)["id"]
    for each in (parent, account):
        assert master.patch(f"accounts/{each}", {"timezone": None}).status_code == 200
    user = master.create(account, "users", {"first_name": "In", "last_name": "Herit"})
    device = master.create(account, "devices", {"name": "Inherits", "owner_id": user["id"]})
    return {"grand": grand, "parent": parent, "account": account, "user": user["id"], "device": device["id"]}


def inherited(master, tree: dict, noun: str = "devices") -> dict:
    ident = tree["device"] if noun == "devices" else tree["user"]
    resp = master.get(f"accounts/{tree['account']}/{noun}/{ident}?include_inherited=true")
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]["_read_only"]["inherited"]


def set_on(master, tree: dict, level: str, fields: dict) -> None:
    paths = {
        "grand": f"accounts/{tree['grand']}",
        "parent": f"accounts/{tree['parent']}",
        "account": f"accounts/{tree['account']}",
        "user": f"accounts/{tree['account']}/users/{tree['user']}",
        "device": f"accounts/{tree['account']}/devices/{tree['device']}",
    }
    resp = master.patch(paths[level], fields)
    assert resp.status_code == 200, resp.text


def test_plain_get_has_no_inherited_block(master, tree):
    data = master.get(f"accounts/{tree['account']}/devices/{tree['device']}").json()["data"]
    assert "inherited" not in data.get("_read_only", {})


def test_nothing_set_gives_the_built_in_fallbacks(master, tree):
    shown = inherited(master, tree)
    assert shown["audio_codecs"] == ["PCMU", "PCMA"] and shown["music_on_hold"] is None


def test_only_the_grandparent_sets_the_timezone(master, tree):
    assert inherited(master, tree)["timezone"] == "Europe/Berlin"
    assert inherited(master, tree, "users")["timezone"] == "Europe/Berlin"


LEVELS = ("grand", "parent", "account", "user", "device")


@pytest.mark.parametrize(
    "setting,path,values,shown",
    [
        ("language", "language", ["gr-GR", "pa-PA", "ac-AC", "us-US", "de-DE"], lambda v: v),
        ("music_on_hold", "music_on_hold", [{"media_id": f"moh-{level}"} for level in LEVELS], lambda v: v["media_id"]),
        (
            "audio_codecs",
            "media",
            [{"audio": {"codecs": [c]}} for c in ("G722", "G729", "OPUS", "PCMA", "GSM")],
            lambda v: v["audio"]["codecs"],
        ),
    ],
)
def test_nearest_level_wins(master, tree, setting, path, values, shown):
    """Set the value on each level from the top down (each nearer level takes over), then unset bottom up."""
    for level, value in zip(LEVELS, values, strict=True):
        set_on(master, tree, level, {path: value})
        assert inherited(master, tree)[setting] == shown(value), level
    for i in range(len(LEVELS) - 1, 0, -1):
        set_on(master, tree, LEVELS[i], {path: None})
        assert inherited(master, tree)[setting] == shown(values[i - 1]), LEVELS[i]
    set_on(master, tree, "grand", {path: None})


def test_caller_id_merges_per_type_and_field(master, tree):
    set_on(
        master,
        tree,
        "grand",
        {
            "caller_id": {
                "emergency": {"number": "+15550000911"},
                "external": {"name": "Grand Corp", "number": "+15550000000"},
            }
        },
    )
    set_on(master, tree, "account", {"caller_id": {"external": {"number": "+15551112222"}}})
    set_on(master, tree, "user", {"caller_id": {"internal": {"name": "In Herit", "number": "100"}}})
    set_on(master, tree, "device", {"caller_id": {"internal": {"number": "101"}}})
    cid = inherited(master, tree)["caller_id"]
    assert cid["internal"] == {"name": "In Herit", "number": "101"}
    assert cid["external"] == {"name": "Grand Corp", "number": "+15551112222"}
    assert cid["emergency"] == {"number": "+15550000911"}
    for level in ("grand", "account", "user", "device"):
        set_on(master, tree, level, {"caller_id": None})


def test_user_view_skips_devices(master, tree):
    set_on(master, tree, "device", {"language": "dv-DV"})
    set_on(master, tree, "user", {"language": "us-US"})
    assert inherited(master, tree, "users")["language"] == "us-US"
    assert inherited(master, tree)["language"] == "dv-DV"
    set_on(master, tree, "device", {"language": None})
    set_on(master, tree, "user", {"language": None})


def test_system_config_is_the_last_resort(master, tree):
    before = master.get("system_configs/media")
    existed = before.status_code == 200
    defaults = {"default_audio_codecs": ["G722", "PCMU"], "default_music_on_hold": "system-moh"}
    if existed:
        saved = master.post("system_configs/media", {**before.json()["data"], "default": defaults})
    else:
        saved = master.put("system_configs/media", {"default": defaults})
    assert saved.status_code in (200, 201), saved.text
    try:
        shown = inherited(master, tree)
        assert shown["audio_codecs"] == ["G722", "PCMU"] and shown["music_on_hold"] == "system-moh"
        set_on(master, tree, "grand", {"music_on_hold": {"media_id": "grand-moh"}})
        assert inherited(master, tree)["music_on_hold"] == "grand-moh"  # any account beats the system
        set_on(master, tree, "grand", {"music_on_hold": None})
    finally:
        restored = (
            master.post("system_configs/media", before.json()["data"])
            if existed
            else master.delete("system_configs/media")
        )
        assert restored.status_code == 200, restored.text
    if not existed:
        assert inherited(master, tree)["audio_codecs"] == ["PCMU", "PCMA"]

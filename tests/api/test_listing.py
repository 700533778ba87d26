"""Listings: start-key paging, Crossbar filters (including the exact Monster UI queries), time ranges and CSV."""

from __future__ import annotations

import csv
import io
import json
import time
from urllib.parse import quote

import pytest

GREGORIAN_OFFSET = 62167219200


@pytest.fixture(scope="module")
def acct(master) -> str:
    return master.create_account(master.account_id)["id"]


@pytest.fixture(scope="module")
def callflows(master, acct) -> dict[str, str]:
    """The mix of callflows SmartPBX's main-number screen and the Callflows app filter on, by label, with the
    account's own `no_match` (to offnet), which every account gets when it is created."""
    owner = master.create(acct, "users", {"first_name": "Cf", "last_name": "Owner"})
    group = master.create(acct, "groups", {"name": "Cf group", "endpoints": {}})
    specs = {
        "main": {"name": "MainCallflow", "type": "main", "numbers": ["undefinedMainNumber"]},
        "main_listed": {"name": "Listed", "numbers": ["7001"], "ui_is_main_number_cf": True},
        "fc_voip": {
            "name": "Park",
            "numbers": ["*3"],
            "featurecode": {"name": "park", "number": "3"},
            "ui_metadata": {"ui": "monster-ui", "origin": "voip"},
        },
        "fc_callflows": {
            "name": "Dnd",
            "numbers": ["*78"],
            "featurecode": {"name": "dnd", "number": "78"},
            "ui_metadata": {"ui": "monster-ui", "origin": "callflows"},
        },
        "fc_bare": {
            "name": "Intercom",
            "patterns": ["^\\*0(\\d+)$"],
            "featurecode": {"name": "intercom", "number": "0"},
        },
        "user_cf": {"name": "Cf Owner", "type": "mainUserCallflow", "owner_id": owner["id"], "numbers": ["7002"]},
        "group_cf": {"name": "Cf group", "type": "baseGroup", "group_id": group["id"], "numbers": ["7003"]},
        "empty_type": {"name": "Blank type", "type": "", "numbers": ["7004"]},
        "qubicle": {"name": "Queue", "numbers": ["7005"], "flow": {"module": "qubicle", "data": {}}},
        "emergency": {"name": "US Emergency Dispatcher", "numbers": ["911"], "ui_metadata": {"origin": "callqueues"}},
    }
    made = {label: master.create(acct, "callflows", data)["id"] for label, data in specs.items()}
    return {**made, "no_match": master.no_match_callflow(acct)}  # the account has it from its creation


def listing(master, path: str, query: str = "") -> list[dict]:
    sep = "&" if "?" in path else "?"
    resp = master.get(f"{path}{sep}{query}" if query else path)
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]


def labels(rows: list[dict], by_label: dict[str, str]) -> set[str]:
    names = {ident: label for label, ident in by_label.items()}
    return {names[r["id"]] for r in rows if r["id"] in names}


# Paging ------------------------------------------------------------------------------------------------------------


def test_start_key_paging_visits_every_item_once(master, acct):
    made = {master.create(acct, "menus", {"name": f"Page {i}"})["id"] for i in range(7)}
    seen: list[str] = []
    start = None
    pages = 0
    while True:
        query = "page_size=3" + (f"&start_key={start}" if start else "")
        body = master.get(f"accounts/{acct}/menus?{query}").json()
        assert body["page_size"] == len(body["data"]) <= 3
        if start:
            assert body["start_key"] == start
        seen += [row["id"] for row in body["data"]]
        pages += 1
        start = body.get("next_start_key")
        if not start:
            break
    assert len(seen) == len(set(seen)), "an item was listed twice"
    assert made <= set(seen)
    assert pages == -(-len(seen) // 3)


def test_default_page_size_and_paginate_false(master, acct):
    for i in range(3):
        master.create(acct, "temporal_rules", {"name": f"Rule {i}", "cycle": "daily"})
    body = master.get(f"accounts/{acct}/temporal_rules").json()
    assert body["page_size"] == len(body["data"]) and "next_start_key" not in body
    everything = master.get(f"accounts/{acct}/temporal_rules?paginate=false").json()
    assert "next_start_key" not in everything and len(everything["data"]) >= 3


def test_paging_with_filters_walks_only_matches(master, acct):
    wanted = {master.create(acct, "directories", {"name": f"Dir {i}", "sort_by": "first_name"})["id"] for i in range(5)}
    master.create(acct, "directories", {"name": "Other"})
    seen, start = [], None
    while True:
        query = "filter_sort_by=first_name&page_size=2" + (f"&start_key={start}" if start else "")
        body = master.get(f"accounts/{acct}/directories?{query}").json()
        seen += [row["id"] for row in body["data"]]
        start = body.get("next_start_key")
        if not start:
            break
    assert sorted(seen) == sorted(wanted)


def test_bad_page_size_is_a_validation_error(master, acct):
    resp = master.get(f"accounts/{acct}/menus?page_size=zero")
    assert resp.status_code == 400 and "page_size" in resp.json()["data"]


# Filters -----------------------------------------------------------------------------------------------------------

MONSTER_QUERIES = {
    "has_value=type&key_missing=owner_id&key_missing=group_id": {"main"},
    "filter_flow.module=qubicle": {"qubicle"},
    "has_key=owner_id&filter_type=mainUserCallflow": {"user_cf"},
    "has_key=group_id&filter_type=baseGroup": {"group_cf"},
    "filter_ui_is_main_number_cf=true": {"main_listed"},
    "has_key=featurecode&filter_ui_metadata.origin=voip": {"fc_voip"},
    "has_key=featurecode&filter_not_ui_metadata.origin=voip": {"fc_callflows", "fc_bare"},
    "has_key=featurecode": {"fc_voip", "fc_callflows", "fc_bare"},
    "has_key=group_id": {"group_cf"},
}


@pytest.mark.parametrize("query", sorted(MONSTER_QUERIES))
def test_monster_ui_callflow_queries(master, acct, callflows, query):
    rows = listing(master, f"accounts/{acct}/callflows?paginate=false", query)
    assert labels(rows, callflows) == MONSTER_QUERIES[query]


def test_callflows_app_home_query(master, acct, callflows):
    """The Callflows app hides no_match, the emergency dispatcher and other apps' callflows (repeated keys)."""
    query = (
        "filter_not_numbers=no_match&filter_not_name="
        + quote("US Emergency Dispatcher")
        + "&filter_not_ui_metadata.origin=voip&filter_not_ui_metadata.origin=callqueues"
        + "&filter_not_ui_metadata.origin=callqueues-pro&filter_not_ui_metadata.origin=csv-onboarding"
    )
    shown = labels(listing(master, f"accounts/{acct}/callflows?paginate=false", query), callflows)
    assert shown == set(callflows) - {"no_match", "emergency", "fc_voip"}


def test_has_value_and_value_missing(master, acct, callflows):
    typed = labels(listing(master, f"accounts/{acct}/callflows?paginate=false", "has_value=type"), callflows)
    assert typed == {"main", "user_cf", "group_cf"}
    untyped = labels(listing(master, f"accounts/{acct}/callflows?paginate=false", "value_missing=type"), callflows)
    assert untyped == set(callflows) - typed
    assert "empty_type" in untyped


def test_key_missing_and_has_key(master, acct, callflows):
    with_key = labels(listing(master, f"accounts/{acct}/callflows?paginate=false", "has_key=type"), callflows)
    assert with_key == {"main", "user_cf", "group_cf", "empty_type"}
    without = labels(listing(master, f"accounts/{acct}/callflows?paginate=false", "key_missing=type"), callflows)
    assert without == set(callflows) - with_key


def test_filter_equal_on_a_list_field_matches_members(master, acct, callflows):
    rows = listing(master, f"accounts/{acct}/callflows?paginate=false", "filter_numbers=7002")
    assert labels(rows, callflows) == {"user_cf"}


def test_json_list_filter_value_means_any_of(master, acct):
    kinds = {
        kind: master.create(acct, "devices", {"name": f"{kind} dev", "device_type": kind})["id"]
        for kind in ("softphone", "landline", "cellphone")
    }
    query = "filter_device_type=" + quote(json.dumps(["softphone", "landline"]))
    rows = listing(master, f"accounts/{acct}/devices?paginate=false", query)
    assert {kinds["softphone"], kinds["landline"]} == {r["id"] for r in rows} & set(kinds.values())


def test_filters_on_booleans_numbers_and_missing_keys(master, acct):
    on = master.create(acct, "menus", {"name": "Enabled-ish", "retries": 7, "hunt": True})["id"]
    off = master.create(acct, "menus", {"name": "Disabled-ish", "retries": 8, "hunt": False})["id"]
    ids = {r["id"] for r in listing(master, f"accounts/{acct}/menus?paginate=false", "filter_hunt=false")}
    assert off in ids and on not in ids
    ids = {r["id"] for r in listing(master, f"accounts/{acct}/menus?paginate=false", "filter_retries=7")}
    assert ids == {on}
    ids = {r["id"] for r in listing(master, f"accounts/{acct}/menus?paginate=false", "filter_not_retries=7")}
    assert off in ids and on not in ids
    assert listing(master, f"accounts/{acct}/menus?paginate=false", "filter_no.such.key=1") == []


def test_monster_ui_vmbox_and_device_queries(master, acct):
    main = master.create(
        acct, "vmboxes", {"name": "Main", "mailbox": "0", "type": "mainVMBox", "delete_after_notify": True}
    )
    master.create(acct, "vmboxes", {"name": "Personal", "mailbox": "101"})
    assert [r["id"] for r in listing(master, f"accounts/{acct}/vmboxes", "filter_type=mainVMBox")] == [main["id"]]
    mobile = master.create(acct, "devices", {"name": "Cell", "device_type": "mobile", "mobile": {"mdn": "5551234"}})
    master.create(acct, "devices", {"name": "Mobile without mdn", "device_type": "mobile"})
    rows = listing(master, f"accounts/{acct}/devices", "filter_device_type=mobile&has_key=mobile")
    assert [r["id"] for r in rows] == [mobile["id"]]


def test_listing_devices_with_status(master, acct):
    master.create(acct, "devices", {"name": "Status", "device_type": "sip_device"})
    rows = listing(master, f"accounts/{acct}/devices", "with_status=true&paginate=false")
    assert rows and all({"registrable", "registered", "device_type", "enabled"} <= r.keys() for r in rows)
    assert all(r["registered"] is False for r in rows)


def test_created_from_and_created_to(master, acct):
    before = int(time.time()) + GREGORIAN_OFFSET - 5
    made = master.create(acct, "faxboxes", {"name": "Timed"})["id"]
    after = int(time.time()) + GREGORIAN_OFFSET + 5
    path = f"accounts/{acct}/faxboxes?paginate=false"
    assert made in {r["id"] for r in listing(master, path, f"created_from={before}&created_to={after}")}
    assert listing(master, path, f"created_from={after}") == []
    assert made not in {r["id"] for r in listing(master, path, f"created_to={before}")}
    assert made in {r["id"] for r in listing(master, path, f"modified_from={before}")}
    resp = master.get(f"{path}&created_from=yesterday")
    assert resp.status_code == 400 and "created_from" in resp.json()["data"]


# CSV ---------------------------------------------------------------------------------------------------------------


def csv_rows(resp) -> list[dict]:
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(resp.text)))


def test_csv_by_accept_header(master, acct, callflows):
    resp = master.get(f"accounts/{acct}/callflows?paginate=false", headers={"Accept": "text/csv"})
    rows = csv_rows(resp)
    assert {r["id"] for r in rows} >= set(callflows.values())
    by_id = {r["id"]: r for r in rows}
    assert by_id[callflows["fc_voip"]]["ui_metadata_origin"] == "voip"
    assert by_id[callflows["fc_voip"]]["featurecode_number"] == "3"
    assert 'filename="callflows.csv"' in resp.headers["content-disposition"]
    assert resp.headers["content-disposition"].startswith("attachment")


def test_csv_by_query_with_file_name(master, acct, callflows):
    resp = master.get(f"accounts/{acct}/callflows?accept=csv&file_name=flows.csv&filter_type=main")
    rows = csv_rows(resp)
    assert [r["id"] for r in rows] == [callflows["main"]]
    assert resp.headers["content-disposition"] == 'attachment; filename="flows.csv"'
    resp = master.get(f"accounts/{acct}/callflows?accept=text/csv", headers={"X-File-Name": "mine.csv"})
    csv_rows(resp)
    assert resp.headers["content-disposition"] == 'attachment; filename="mine.csv"'


def test_csv_of_a_single_document(master, acct):
    menu = master.create(acct, "menus", {"name": "CSV menu", "media": {"greeting": "hello"}})
    rows = csv_rows(master.get(f"accounts/{acct}/menus/{menu['id']}", headers={"Accept": "text/csv"}))
    assert len(rows) == 1 and rows[0]["name"] == "CSV menu" and rows[0]["media_greeting"] == "hello"

"""Number classifiers over HTTP and from `sup`: the listing in matching order, one number's class with its E.164
and friendly name, bad numbers, tenant isolation, and a change of system config used at once by every process
sharing the database."""

from __future__ import annotations

import json
import subprocess
from types import SimpleNamespace

import pytest

from cloudpbx.numbers.classifiers import DEFAULT_CLASSIFIERS
from tests.conftest import start_server, stop_server, sup_argv
from tests.helpers import ADMIN_PASSWORD, Client, unique

CONFIG = "system_configs/number_manager"


@pytest.fixture(scope="module")
def tenants(master):
    a = master.create_account(master.account_id, unique("Classify A"))["id"]
    b = master.create_account(master.account_id, unique("Classify B"))["id"]
    return SimpleNamespace(a=a, b=b, a_admin=master.admin_of(a), b_admin=master.admin_of(b))


def sup_json(server, category: str, key: str):
    done = subprocess.run(
        sup_argv(server, "kapps_config", "get_json", category, key),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def error(resp, code: int) -> dict:
    assert resp.status_code == code, resp.text
    body = resp.json()
    assert body["status"] == "error" and body["error"] == str(code)
    return body["data"]


@pytest.fixture
def restored(master):
    """The number_manager config as it was before the test, put back after it."""
    kept = master.get(CONFIG)
    yield
    master.delete(CONFIG)
    if kept.status_code == 200:
        assert master.put(CONFIG, {k: v for k, v in kept.json()["data"].items() if k != "id"}).status_code == 201


def test_the_listing_is_kazoos_order_and_sup_prints_the_classifiers_in_use(tenants, server):
    listed = tenants.a_admin.get(f"accounts/{tenants.a}/phone_numbers/classifiers").json()["data"]
    assert (
        list(listed)
        == [entry["name"] for entry in DEFAULT_CLASSIFIERS]
        == [
            "tollfree_us",
            "toll_us",
            "emergency",
            "caribbean",
            "did_us",
            "international",
            "unknown",
        ]
    )
    assert listed["emergency"]["emergency"] is True and "988" in listed["emergency"]["regex"]
    assert sup_json(server, "number_manager", "classifiers") == listed


@pytest.mark.parametrize(
    ("number", "name", "e164", "friendly"),
    [
        ("4158867900", "did_us", "+14158867900", "US DID"),
        ("+18005551234", "tollfree_us", "+18005551234", "US TollFree"),
        ("19005551234", "toll_us", "+19005551234", "US Toll"),
        ("911", "emergency", "911", "Emergency Dispatcher"),
        ("988", "emergency", "988", "Emergency Dispatcher"),
        ("18765551234", "caribbean", "+18765551234", "Caribbean"),
        ("011442079460000", "international", "+442079460000", "International"),
        ("1000", "unknown", "1000", "Unknown"),
        ("*97", "unknown", "*97", "Unknown"),
    ],
)
def test_a_number_answers_its_class_e164_and_friendly_name(tenants, number, name, e164, friendly):
    data = tenants.a_admin.get(f"accounts/{tenants.a}/phone_numbers/classifiers/{number}").json()["data"]
    assert (data["name"], data["e164"], data["number"], data["friendly_name"]) == (name, e164, number, friendly)
    expected = next(entry for entry in DEFAULT_CLASSIFIERS if entry["name"] == name)
    assert data["regex"] == expected["regex"]
    assert tenants.a_admin.get(f"phone_numbers/classifiers/{number}").json()["data"] == data


@pytest.mark.parametrize("bad", ["abc", "+", "415-555-0100", "1" * 65, "4155550100x", "%2B%2B1415"])
def test_a_bad_number_is_a_validation_error(tenants, bad):
    data = error(tenants.a_admin.get(f"accounts/{tenants.a}/phone_numbers/classifiers/{bad}"), 400)
    assert "pattern" in data["number"]


def test_other_tenants_classifier_paths_are_refused(tenants):
    for path in ("phone_numbers/classifiers", "phone_numbers/classifiers/4158867900"):
        error(tenants.b_admin.get(f"accounts/{tenants.a}/{path}"), 403)
        assert tenants.b_admin.get(f"accounts/{tenants.b}/{path}").status_code == 200
    assert Client(tenants.a_admin.base).get("phone_numbers/classifiers").status_code == 401


def test_a_config_change_is_used_at_once_by_every_process(master, server, tenants, restored):
    second, base = start_server(server[1], server[2])  # another process on the same database
    try:
        other = Client(base)
        other.login("admin", ADMIN_PASSWORD, account_name="Master Account")
        before = other.get("phone_numbers/classifiers/4158867900").json()["data"]
        assert before["name"] == "did_us"
        config = {
            "default": {
                "classifiers": {
                    "lifeline": {"regex": "^988$", "friendly_name": "Lifeline", "emergency": True},
                    "nanp": "^\\+1\\d{10}$",  # KAZOO's older form: the regex alone, the name as friendly name
                    "broken": {"friendly_name": "No regex"},
                }
            }
        }
        assert master.put(CONFIG, config).status_code == 201
        for client in (master, other, tenants.a_admin):
            listed = client.get("phone_numbers/classifiers").json()["data"]
            assert list(listed) == ["lifeline", "nanp"], "an entry without a regex is skipped"
            assert listed["nanp"] == {"regex": "^\\+1\\d{10}$", "friendly_name": "nanp"}
            assert client.get("phone_numbers/classifiers/4158867900").json()["data"]["name"] == "nanp"
            unmatched = client.get("phone_numbers/classifiers/911").json()["data"]
            assert unmatched == {"number": "911", "e164": "911"}, "no classifier matches: number and e164 only"
        assert sup_json(server, "number_manager", "classifiers")["lifeline"]["friendly_name"] == "Lifeline"
        assert master.delete(CONFIG).status_code == 200
        assert other.get("phone_numbers/classifiers/911").json()["data"]["name"] == "emergency"
    finally:
        stop_server(second)


def test_a_classifier_regex_needing_backtracking_is_refused_in_either_form(master, restored):
    before = master.get("phone_numbers/classifiers").json()["data"]
    refused = (("^(?=1)\\d+$", "default.classifiers.bad"), ({"regex": "^(a)\\1$"}, "default.classifiers.bad.regex"))
    for entry, where in refused:
        data = error(master.put(CONFIG, {"default": {"classifiers": {"bad": entry}}}), 400)
        assert "regex" in data[where]
    assert master.get("phone_numbers/classifiers").json()["data"] == before, "nothing was stored"

"""Crossbar's path grammar is strict: a path acts only on the shape it names, or it is 404 (unknown shape) or 405
with `Allow` (known shape, other method); never on another object."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.conformance import Document
from tests.helpers import Client

OTHER = "f" * 32


@pytest.fixture(scope="module")
def pair(master):
    """Two sibling accounts below the master, each with a user and a device."""
    a, q = master.create_account(master.account_id), master.create_account(master.account_id)
    for account in (a, q):
        user = master.create(account["id"], "users", {"first_name": "Path", "last_name": "Owner"})
        master.create(account["id"], "devices", {"name": "Desk", "owner_id": user["id"]})
    return a, q


def assert_not_found(resp: httpx.Response) -> None:
    assert resp.status_code == 404, resp.text
    assert resp.json()["message"] == "not_found"


def test_a_noun_in_the_middle_of_a_path_is_not_skipped(master, pair):
    a, q = pair
    assert_not_found(master.patch(f"accounts/{a['id']}/accounts/{q['id']}", {"name": "Renamed"}))
    assert_not_found(master.delete(f"accounts/{q['id']}/accounts/{a['id']}"))
    assert_not_found(master.post(f"accounts/{a['id']}/users/{OTHER}/accounts/{q['id']}", {"name": "x"}))
    assert master.get(f"accounts/{a['id']}").json()["data"]["name"] == a["name"]
    assert master.get(f"accounts/{q['id']}").status_code == 200


def test_an_encoded_slash_stays_inside_its_segment(master, pair):
    a, _ = pair
    for ident in ("..%2F..%2Fusers", "..%2fusers", "x%2Fy", "%2E%2E"):
        assert_not_found(master.get(f"accounts/{a['id']}/devices/{ident}"))
    assert_not_found(master.get(f"accounts/{a['id']}/devices/{OTHER}%2Fsync"))


def test_ids_follow_the_grammar_of_their_noun(master, pair):
    a, _ = pair
    for ident in ("not-an-id", OTHER.upper(), OTHER[:-1], OTHER + "0", "%C3%A9" * 16):
        assert_not_found(master.get(f"accounts/{a['id']}/users/{ident}"))
    assert_not_found(master.get(f"accounts/{a['id']}/whitelabel/banner"))
    assert_not_found(master.get(f"accounts/{a['id']}/devices/{OTHER}/extra"))
    assert_not_found(master.get(f"accounts/{a['id']}//users"))
    assert_not_found(master.get(f"accounts/{a['id']}/registrations/line%0Abreak"))
    assert master.get(f"accounts/{a['id']}/users/{OTHER}").json()["message"] == "bad_identifier"


def test_a_known_shape_with_another_method_is_405_with_allow(master, pair):
    a, _ = pair
    resp = master.delete(f"accounts/{a['id']}/users")
    assert resp.status_code == 405 and resp.headers["allow"] == "GET, PUT"
    assert resp.json()["data"]["allowed"] == ["GET", "PUT"]
    resp = httpx.put(f"{master.base}/accounts/{a['id']}/limits", json={"data": {}})
    assert resp.status_code == 405 and resp.headers["allow"] == "GET, POST", "405 comes before credentials"
    master_delete = master.delete(f"accounts/{master.account_id}")
    assert master_delete.status_code == 405 and "DELETE" not in master_delete.headers["allow"]


def test_a_users_devices_are_those_it_owns(master, pair):
    a, _ = pair
    users = master.get(f"accounts/{a['id']}/users").json()["data"]
    owner = next(u for u in users if u["first_name"] == "Path")
    devices = master.get(f"accounts/{a['id']}/users/{owner['id']}/devices").json()["data"]
    assert [d["owner_id"] for d in devices] == [owner["id"]]
    assert_not_found(master.get(f"accounts/{a['id']}/users/{owner['id']}/menus"))


def test_every_declared_shape_is_served_and_other_methods_are_405(master, server):
    """Walks the OpenAPI document: each path, filled with arguments of its grammar, reaches its shape."""
    spec = Client(server[0]).get("openapi.json").json()
    anonymous = Client(server[0])
    checked = 0
    for template, item in spec["paths"].items():
        params = {p["name"]: p["schema"] for op in item.values() for p in op.get("parameters", [])}
        path = re.sub(r"{(\w+)}", lambda m, params=params: example(params[m.group(1)]), template)
        assert Document(spec).template(path) == template, template
        declared = sorted(m.upper() for m in item)
        other = next((m for m in ("PATCH", "PUT", "DELETE", "POST", "GET") if m not in declared), None)
        if other is None:  # every method is served here
            continue
        resp = anonymous.request(other, path)
        assert resp.status_code == 405, (template, other, resp.text)
        assert resp.headers["allow"] == ", ".join(declared), template
        checked += 1
    assert checked >= 80


def example(schema: dict) -> str:
    if "enum" in schema:
        return schema["enum"][0]
    return "0" * 32 if schema["pattern"] == "^[0-9a-f]{32}$" else "x1"

"""Tenant isolation: master → reseller R → customer C → sub S, plus X, a sibling of C under R.

C (and X) act on their own subtree only. Every noun registered in the API is covered, read at run time, so
endpoints added later are checked too; plain document collections get the full create/read/update/delete matrix.
"""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import pytest

from cloudpbx import schemas
from cloudpbx.api.app import ROUTER
from cloudpbx.api.endpoints import ENDPOINTS
from cloudpbx.api.endpoints.base import DocumentEndpoint
from cloudpbx.errors import NotFoundPath
from tests.helpers import Client, unique

VERBS = ("GET", "PUT", "POST", "PATCH", "DELETE")
ACCOUNT_VIEWS = ("children", "descendants", "siblings", "parents", "tree")
FAKE_ID = "f" * 32
_serial = itertools.count(100)

# Nouns that name no account collection; everything else in ENDPOINTS is checked.
NOT_ACCOUNT_SCOPED = {"accounts"}
COLLECTIONS = sorted(
    noun for noun, ep in ENDPOINTS.items() if isinstance(ep, DocumentEndpoint) and ep.kind.fixed_id is None
)
ACCOUNT_NOUNS = sorted(set(ENDPOINTS) - NOT_ACCOUNT_SCOPED)

# Bodies for collections whose schema alone does not give a valid document (unique numbers, flows).
SAMPLES = {
    "users": lambda n, tag: {"first_name": tag, "last_name": "Isolated"},
    "callflows": lambda n, tag: {"name": tag, "numbers": [f"7{n}"], "flow": {"module": "noop", "data": {}}},
    "groups": lambda n, tag: {"name": tag, "endpoints": {}},
    "vmboxes": lambda n, tag: {"name": tag, "mailbox": f"8{n}"},
    "temporal_rules": lambda n, tag: {"name": tag, "cycle": "weekly", "wdays": ["monday"]},
    "external_numbers": lambda n, tag: {"number": f"+1555{n:07d}", "name": tag},
}


def _value(prop: dict, tag: str):
    """A value that satisfies one property schema, for collections with no hand-written sample."""
    while "$ref" in prop:
        prop = schemas.load(prop["$ref"])
    if "enum" in prop:
        return prop["enum"][0]
    kind = prop.get("type", "string")
    kind = kind[0] if isinstance(kind, list) else kind
    if kind == "string":
        return tag.ljust(prop.get("minLength", 1), "x")[: prop.get("maxLength", 128)]
    if kind in ("integer", "number"):
        return prop.get("minimum", 1)
    if kind == "boolean":
        return True
    if kind == "array":
        return [_value(prop.get("items", {}), tag) for _ in range(prop.get("minItems", 0))]
    return {key: _value(prop.get("properties", {}).get(key, {}), tag) for key in prop.get("required", [])}


def sample(noun: str, tag: str) -> dict:
    n = next(_serial)
    if noun in SAMPLES:
        return SAMPLES[noun](n, tag)
    schema = schemas.load(noun)
    body = _value(schema, tag)
    if "name" in schema.get("properties", {}):
        body["name"] = tag
    return body


@pytest.fixture(scope="module")
def world(master):
    r = master.create_account(master.account_id, unique("Reseller R"))
    assert master.put(f"accounts/{r['id']}/reseller").status_code == 200
    c = master.create_account(r["id"], unique("Customer C"))
    s = master.create_account(c["id"], unique("Sub S"))
    x = master.create_account(r["id"], unique("Sibling X"))
    return SimpleNamespace(
        master=master, r=r, c=c, s=s, x=x, c_admin=master.admin_of(c["id"]), x_admin=master.admin_of(x["id"])
    )


def assert_refused(resp, code: int, *secrets: str) -> None:
    """The request failed with `code` and the body carries nothing of the other tenant."""
    assert resp.status_code == code, f"{resp.request.method} {resp.request.url}: {resp.status_code} {resp.text}"
    body = resp.json()
    assert body["status"] == "error" and body["error"] == str(code)
    assert set(body["data"]) <= {"message", "cause", "allowed"}, body
    for secret in secrets:
        assert secret not in resp.text


def attempts(client: Client, base: str, body: dict):
    """Every verb on the collection and on one item of it."""
    yield client.get(base)
    yield client.put(base, body)
    for method in ("GET", "POST", "PATCH", "DELETE"):
        yield client.request(method, f"{base}/{FAKE_ID}", body)


def item_attempts(client: Client, collection: str, doc_id: str, body: dict):
    yield client.get(collection)
    yield client.put(collection, body)
    yield client.get(f"{collection}/{doc_id}")
    yield client.post(f"{collection}/{doc_id}", body)
    yield client.patch(f"{collection}/{doc_id}", {"ui_metadata": {"probe": "intruder"}})
    yield client.delete(f"{collection}/{doc_id}")


def state(master: Client, account_id: str, noun: str, doc_id: str) -> tuple:
    item = master.get(f"accounts/{account_id}/{noun}/{doc_id}")
    assert item.status_code == 200, item.text
    listing = master.get(f"accounts/{account_id}/{noun}?paginate=false")
    return item.json()["revision"], item.json()["data"], sorted(d["id"] for d in listing.json()["data"])


def listed(client: Client, base: str) -> set[str]:
    resp = client.get(f"{base}?paginate=false")
    assert resp.status_code == 200, resp.text
    return {d["id"] for d in resp.json()["data"]}


@pytest.mark.parametrize("noun", COLLECTIONS)
def test_a_tenant_has_full_crud_on_its_own_subtree(world, noun):
    created = {}
    for account in (world.c, world.s):
        resp = world.c_admin.put(f"accounts/{account['id']}/{noun}", sample(noun, unique("Own")))
        assert resp.status_code == 201, resp.text
        created[account["id"]] = resp.json()["data"]["id"]
    c_list, s_list = (listed(world.c_admin, f"accounts/{a}/{noun}") for a in created)
    assert created[world.c["id"]] in c_list - s_list and created[world.s["id"]] in s_list - c_list
    for account_id, doc_id in created.items():
        base = f"accounts/{account_id}/{noun}"
        assert world.c_admin.get(f"{base}/{doc_id}").json()["data"]["id"] == doc_id
        replaced = world.c_admin.post(f"{base}/{doc_id}", sample(noun, unique("Replaced")))
        assert replaced.status_code == 200, replaced.text
        patched = world.c_admin.patch(f"{base}/{doc_id}", {"ui_metadata": {"probe": "owner"}})
        assert patched.status_code == 200 and patched.json()["data"]["ui_metadata"] == {"probe": "owner"}
        assert world.c_admin.delete(f"{base}/{doc_id}").status_code == 200
        assert world.c_admin.get(f"{base}/{doc_id}").status_code == 404


@pytest.mark.parametrize("noun", COLLECTIONS)
def test_other_tenants_documents_are_out_of_reach(world, noun):
    master = world.master
    tag = unique("Secret")
    foreign = {
        acc["id"]: master.create(acc["id"], noun, sample(noun, tag))["id"]
        for acc in (world.r, world.x, {"id": master.account_id})
    }
    before = {acc: state(master, acc, noun, doc) for acc, doc in foreign.items()}
    for acc, doc in foreign.items():
        for resp in item_attempts(world.c_admin, f"accounts/{acc}/{noun}", doc, sample(noun, "intruder")):
            assert_refused(resp, 403, tag)
    x_doc = foreign[world.x["id"]]
    mine = f"accounts/{world.c['id']}/{noun}/{x_doc}"
    for resp in (
        world.c_admin.get(mine),
        world.c_admin.post(mine, sample(noun, "intruder")),
        world.c_admin.patch(mine, {"ui_metadata": {"probe": "intruder"}}),
        world.c_admin.delete(mine),
    ):
        assert_refused(resp, 404, tag)
    for account in (world.c, world.s):
        for resp in item_attempts(world.x_admin, f"accounts/{account['id']}/{noun}", FAKE_ID, sample(noun, "x")):
            assert_refused(resp, 403)
    assert {acc: state(master, acc, noun, doc) for acc, doc in foreign.items()} == before
    assert master.delete(f"accounts/{master.account_id}/{noun}/{foreign[master.account_id]}").status_code == 200


@pytest.mark.parametrize("noun", ACCOUNT_NOUNS)
def test_every_noun_refuses_accounts_outside_the_subtree(world, noun):
    refused = [(world.c_admin, acc) for acc in (world.r, world.x, {"id": world.master.account_id})]
    refused += [(world.x_admin, acc) for acc in (world.c, world.s)]
    for client, account in refused:
        for resp in attempts(client, f"accounts/{account['id']}/{noun}", {"name": "intruder"}):
            assert_refused(resp, expected_refusal(resp), account.get("name", "\0"))


def expected_refusal(resp) -> int:
    """403 on the shapes the noun serves; a shape it does not serve is 404, a method it does not take 405."""
    try:
        shape = ROUTER.match(resp.request.url.raw_path.decode().partition("?")[0][len("/v2/") :]).shape
    except NotFoundPath:
        return 404
    return 403 if resp.request.method in shape.ops else 405


def test_references_to_another_tenants_documents_are_invalid(world):
    x_user = world.master.create(world.x["id"], "users", {"first_name": "Xavier", "last_name": "Other"})["id"]
    c_base = f"accounts/{world.c['id']}"
    probes = {
        "devices": ({"name": "Desk", "owner_id": x_user}, "owner_id"),
        "vmboxes": ({"name": "Box", "mailbox": "9001", "owner_id": x_user}, "owner_id"),
        "groups": ({"name": "Team", "endpoints": {x_user: {"type": "user"}}}, f"endpoints.{x_user}"),
        "callflows": ({"numbers": ["9002"], "flow": {"module": "user", "data": {"id": x_user}}}, "flow.data.id"),
    }
    for noun, (body, field) in probes.items():
        resp = world.c_admin.put(f"{c_base}/{noun}", body)
        assert resp.status_code == 400, f"{noun}: {resp.text}"
        assert resp.json()["message"] == "validation error"
        assert "not_found" in resp.json()["data"][field], resp.text
        assert "Xavier" not in resp.text
    forged = {
        "first_name": "Forged",
        "last_name": "Ids",
        "id": x_user,
        "_id": x_user,
        "pvt_account_id": world.x["id"],
        "pvt_type": "device",
    }
    resp = world.c_admin.put(f"{c_base}/users", forged)
    assert resp.status_code == 201 and resp.json()["data"]["id"] != x_user
    forged_id = resp.json()["data"]["id"]
    assert world.c_admin.get(f"{c_base}/users/{forged_id}").json()["data"]["first_name"] == "Forged"
    assert world.c_admin.post(f"{c_base}/users/{forged_id}", forged).status_code == 200
    assert world.master.get(f"accounts/{world.x['id']}/users/{forged_id}").status_code == 404
    assert world.master.get(f"accounts/{world.x['id']}/users/{x_user}").json()["data"]["first_name"] == "Xavier"


def test_account_views_never_reveal_what_is_above_or_beside(world):
    hidden = [world.r["id"], world.r["name"], world.x["id"], world.x["name"], world.master.account_id]
    for account in (world.c, world.s):
        for view in ACCOUNT_VIEWS:
            resp = world.c_admin.get(f"accounts/{account['id']}/{view}")
            if view == "siblings" and account is world.c:
                assert_refused(resp, 403, *hidden)
                continue
            assert resp.status_code == 200, resp.text
            assert not any(h in resp.text for h in hidden), (view, resp.text)
    assert [d["id"] for d in world.c_admin.get(f"accounts/{world.c['id']}/descendants").json()["data"]] == [
        world.s["id"]
    ]
    assert [d["id"] for d in world.c_admin.get(f"accounts/{world.s['id']}/tree").json()["data"]] == [world.c["id"]]
    for account in (world.r, world.x, {"id": world.master.account_id}):
        for view in ACCOUNT_VIEWS:
            assert_refused(world.c_admin.get(f"accounts/{account['id']}/{view}"), 403, *hidden[1::2])


def test_other_accounts_cannot_be_read_changed_or_moved(world):
    master, c_admin = world.master, world.c_admin
    before = {a["id"]: master.get(f"accounts/{a['id']}").json()["revision"] for a in (world.r, world.x)}
    children_before = sorted(d["id"] for d in master.get(f"accounts/{world.r['id']}/descendants").json()["data"])
    for account in (world.r, world.x, {"id": master.account_id, "name": "Master Account"}):
        path = f"accounts/{account['id']}"
        for resp in (
            c_admin.get(path),
            c_admin.post(path, {"name": "Taken Over"}),
            c_admin.patch(path, {"name": "Taken Over", "enabled": False}),
            c_admin.delete(path),
            c_admin.put(path, {"name": unique("Planted")}),
            c_admin.get(f"{path}/api_key"),
            c_admin.put(f"{path}/api_key"),
            c_admin.put(f"{path}/reseller"),
        ):
            assert_refused(resp, 403, account["name"])
    assert_refused(c_admin.post(f"accounts/{world.s['id']}/move", {"to": world.x["id"]}), 403, world.x["name"])
    assert_refused(c_admin.post(f"accounts/{world.x['id']}/move", {"to": world.c["id"]}), 403, world.x["name"])
    assert {a["id"]: master.get(f"accounts/{a['id']}").json()["revision"] for a in (world.r, world.x)} == before
    assert (
        sorted(d["id"] for d in master.get(f"accounts/{world.r['id']}/descendants").json()["data"]) == children_before
    )
    assert [d["id"] for d in master.get(f"accounts/{world.s['id']}/parents").json()["data"]][-1] == world.c["id"]


def test_the_singular_account_alias_means_the_callers_own_account(world):
    mine = world.c_admin.get("account/users")
    assert mine.status_code == 200
    assert {u["id"] for u in mine.json()["data"]} == listed(world.c_admin, f"accounts/{world.c['id']}/users")
    assert world.c_admin.get("account").json()["data"]["id"] == world.c["id"]
    assert Client(world.c_admin.base).get("account/users").status_code == 401

"""Crossbar's request/response conventions over HTTP: envelope, verbs, revisions, ETags, routing, CORS, pretty print."""

from __future__ import annotations

import re
import secrets

import httpx
import pytest

from tests.helpers import Client, credentials

SUCCESS_KEYS = {"data", "status", "auth_token", "request_id", "revision", "timestamp", "version", "node"}
REVISION = re.compile(r"^(\d+)-[0-9a-f]{32}$")


@pytest.fixture(scope="module")
def acct(master) -> str:
    return master.create_account(master.account_id)["id"]


def tag() -> str:
    """A short random suffix for names that must be unique."""
    return secrets.token_hex(4)


def revision_number(body: dict) -> int:
    match = REVISION.match(body["revision"])
    assert match, body["revision"]
    return int(match.group(1))


def assert_error(resp: httpx.Response, code: int, message: str) -> dict:
    """The Crossbar error envelope: `error` is the code as a string; the type is exactly application/json."""
    assert resp.status_code == code, resp.text
    assert resp.headers["content-type"] == "application/json"
    body = resp.json()
    assert body["status"] == "error"
    assert body["error"] == str(code)
    assert body["message"] == message
    assert isinstance(body["data"], dict)
    assert {"request_id", "timestamp", "node", "auth_token"} <= body.keys()
    return body


# Envelope ----------------------------------------------------------------------------------------------------------


def test_success_envelope_has_every_key(master, acct):
    resp = master.get(f"accounts/{acct}", headers={"X-Request-ID": "req-abc-123"})
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"
    body = resp.json()
    assert body.keys() >= SUCCESS_KEYS
    assert body["status"] == "success"
    assert body["data"]["id"] == acct
    assert body["auth_token"] == master.token
    assert body["request_id"] == "req-abc-123" == resp.headers["x-request-id"]
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", body["timestamp"])
    assert body["version"] and body["node"]


def test_error_envelope_is_crossbar_shaped(master, acct):
    missing = "0" * 32
    body = assert_error(master.get(f"accounts/{acct}/users/{missing}"), 404, "bad_identifier")
    assert body["data"]["cause"] == missing
    assert body["auth_token"] == master.token


def test_anonymous_error_has_no_version_and_exact_content_type(server):
    body = assert_error(httpx.get(f"{server[0]}/accounts/{'1' * 32}/users"), 401, "invalid_credentials")
    assert "version" not in body and body["auth_token"] == ""


# Verbs -------------------------------------------------------------------------------------------------------------


def test_put_creates_with_201_and_location(master, acct):
    resp = master.put(f"accounts/{acct}/vmboxes", {"name": "Front desk", "mailbox": "3001"})
    assert resp.status_code == 201
    created = resp.json()["data"]
    assert resp.headers["location"] == created["id"]
    assert master.get(f"accounts/{acct}/vmboxes/{created['id']}").json()["data"]["name"] == "Front desk"


def test_post_replaces_the_document_but_keeps_private_fields(master, acct):
    username = f"rep{tag()}"
    user = master.create(
        acct,
        "users",
        {
            "first_name": "Ann",
            "last_name": "Lee",
            "username": username,
            "password": "first-pass-1",
            "timezone": "Europe/Paris",
            "caller_id": {"internal": {"name": "Ann"}},
        },
    )
    resp = master.post(
        f"accounts/{acct}/users/{user['id']}", {"first_name": "Anne", "last_name": "Lee", "username": username}
    )
    assert resp.status_code == 200, resp.text
    data = resp.json()["data"]
    assert data["first_name"] == "Anne"
    assert "timezone" not in data and "caller_id" not in data
    assert master.get(f"accounts/{acct}/users/{user['id']}").json()["data"] == data
    # the password hashes are private fields: they survive the replace, so the login still works
    realm = master.get(f"accounts/{acct}").json()["data"]["realm"]
    login = httpx.put(
        f"{master.base}/user_auth",
        json={"data": {"credentials": credentials(username, "first-pass-1"), "account_realm": realm}},
    )
    assert login.status_code == 201, login.text


def test_post_ignores_client_private_and_id_fields(master, acct):
    device = master.create(acct, "devices", {"name": "Phone"})
    resp = master.post(
        f"accounts/{acct}/devices/{device['id']}",
        {"name": "Phone 2", "id": "f" * 32, "_id": "e" * 32, "pvt_type": "user", "_rev": "9-x"},
    )
    assert resp.status_code == 200, resp.text
    data = resp.json()["data"]
    assert data["id"] == device["id"] and "pvt_type" not in data and "_rev" not in data
    assert master.get(f"accounts/{acct}/devices/{device['id']}").json()["data"]["name"] == "Phone 2"


def test_patch_merges_objects_and_null_removes(master, acct):
    user = master.create(
        acct,
        "users",
        {
            "first_name": "Pat",
            "last_name": "Ch",
            "timezone": "Europe/Paris",
            "caller_id": {"internal": {"name": "Pat"}},
        },
    )
    path = f"accounts/{acct}/users/{user['id']}"
    resp = master.patch(path, {"caller_id": {"internal": {"number": "1001"}}, "language": "fr-FR"})
    assert resp.status_code == 200, resp.text
    data = resp.json()["data"]
    assert data["caller_id"]["internal"] == {"name": "Pat", "number": "1001"}
    assert data["first_name"] == "Pat" and data["timezone"] == "Europe/Paris" and data["language"] == "fr-FR"
    data = master.patch(path, {"timezone": None, "caller_id": {"internal": {"name": None}}}).json()["data"]
    assert "timezone" not in data
    assert data["caller_id"]["internal"] == {"number": "1001"}
    assert master.get(path).json()["data"] == data


def test_delete_is_soft_and_frees_unique_keys(master, acct):
    sip = {"username": f"soft{tag()}", "password": "secret-1"}
    device = master.create(acct, "devices", {"name": "Old phone", "sip": sip})
    path = f"accounts/{acct}/devices/{device['id']}"
    resp = master.delete(path)
    assert resp.status_code == 200
    data = resp.json()["data"]
    assert data["_read_only"] == {"deleted": True}
    assert data["id"] == device["id"] and data["name"] == "Old phone"
    assert_error(master.get(path), 404, "bad_identifier")
    assert_error(master.delete(path), 404, "bad_identifier")
    assert_error(master.patch(path, {"name": "again"}), 404, "bad_identifier")
    ids = [d["id"] for d in master.get(f"accounts/{acct}/devices?paginate=false").json()["data"]]
    assert device["id"] not in ids
    again = master.put(f"accounts/{acct}/devices", {"name": "New phone", "sip": sip})
    assert again.status_code == 201, again.text


def test_wrong_verb_is_405_invalid_method(master, acct):
    user = master.create(acct, "users", {"first_name": "V", "last_name": "W"})
    assert_error(master.delete(f"accounts/{acct}/users"), 405, "invalid_method")
    assert_error(master.put(f"accounts/{acct}/users/{user['id']}", {"first_name": "x"}), 405, "invalid_method")
    assert_error(master.post(f"accounts/{acct}/users", {"first_name": "x", "last_name": "y"}), 405, "invalid_method")


# Revisions and ETags -----------------------------------------------------------------------------------------------


def test_revision_counts_saves_and_is_the_etag(master, acct):
    resp = master.put(f"accounts/{acct}/menus", {"name": "Rev menu"})
    created = resp.json()
    assert revision_number(created) == 1
    assert resp.headers["etag"] == f'"{created["revision"]}"'
    path = f"accounts/{acct}/menus/{created['data']['id']}"
    patched = master.patch(path, {"retries": 5}).json()
    assert revision_number(patched) == 2
    replaced = master.post(path, {"name": "Rev menu 2"}).json()
    assert revision_number(replaced) == 3
    got = master.get(path)
    assert got.json()["revision"] == replaced["revision"]
    assert got.headers["etag"] == f'"{replaced["revision"]}"'


def test_if_none_match_gives_304_and_a_stale_one_200(master, acct):
    menu = master.put(f"accounts/{acct}/menus", {"name": "Cache me"}).json()
    path = f"accounts/{acct}/menus/{menu['data']['id']}"
    etag = master.get(path).headers["etag"]
    cached = master.get(path, headers={"If-None-Match": etag})
    assert cached.status_code == 304 and cached.content == b""
    master.patch(path, {"retries": 4})
    fresh = master.get(path, headers={"If-None-Match": etag})
    assert fresh.status_code == 200 and fresh.json()["data"]["retries"] == 4


def test_head_answers_like_get_without_a_body(master, acct):
    got, head = (
        master.get(f"accounts/{acct}"),
        master.http.head(f"{master.base}/accounts/{acct}", headers={"X-Auth-Token": master.token}),
    )
    assert head.status_code == 200 and head.content == b""
    assert head.headers["etag"] == got.headers["etag"]


def test_listing_revision_is_a_content_hash(master, acct):
    first = master.get(f"accounts/{acct}/menus?paginate=false")
    assert re.match(r"^[0-9a-f]{32}$", first.json()["revision"])
    assert (
        master.get(
            f"accounts/{acct}/menus?paginate=false", headers={"If-None-Match": first.headers["etag"]}
        ).status_code
        == 304
    )
    master.put(f"accounts/{acct}/menus", {"name": "Changes the list"})
    assert master.get(f"accounts/{acct}/menus?paginate=false").json()["revision"] != first.json()["revision"]


def test_if_match_with_a_stale_revision_is_409(master, acct):
    menu = master.put(f"accounts/{acct}/menus", {"name": "Guarded"}).json()
    path = f"accounts/{acct}/menus/{menu['data']['id']}"
    stale = menu["revision"]
    current = master.patch(path, {"retries": 2}).json()["revision"]
    assert_error(master.patch(path, {"retries": 7}, headers={"If-Match": f'"{stale}"'}), 409, "datastore_conflict")
    assert_error(master.post(path, {"name": "x"}, headers={"If-Match": stale}), 409, "datastore_conflict")
    assert master.get(path).json()["data"]["retries"] == 2
    ok = master.patch(path, {"retries": 7}, headers={"If-Match": f'"{current}"'})
    assert ok.status_code == 200 and ok.json()["data"]["retries"] == 7
    assert_error(master.delete(path, headers={"If-Match": current}), 409, "datastore_conflict")
    assert master.get(path).status_code == 200
    assert master.delete(path, headers={"If-Match": ok.json()["revision"]}).status_code == 200


# Tunnelling and aliases --------------------------------------------------------------------------------------------


def test_verb_tunnelled_in_the_query_string(master, acct):
    resp = master.post(f"accounts/{acct}/groups?verb=PUT", {"name": "Tunnel", "endpoints": {}})
    assert resp.status_code == 201, resp.text
    group_id = resp.json()["data"]["id"]
    assert master.get(f"accounts/{acct}/groups/{group_id}").json()["data"]["name"] == "Tunnel"
    resp = master.post(f"accounts/{acct}/groups/{group_id}?verb=DELETE")
    assert resp.status_code == 200 and resp.json()["data"]["_read_only"] == {"deleted": True}


def test_verb_tunnelled_in_the_envelope(master, acct):
    group = master.create(acct, "groups", {"name": "Env", "endpoints": {}, "music_on_hold": {"media_id": "m1"}})
    resp = master.post(f"accounts/{acct}/groups/{group['id']}", envelope={"data": {"name": "Env 2"}, "verb": "PATCH"})
    assert resp.status_code == 200, resp.text
    data = resp.json()["data"]
    assert data["name"] == "Env 2" and data["music_on_hold"] == {"media_id": "m1"}  # merged, not replaced


def test_account_alias_acts_on_the_callers_account(master, acct):
    admin = master.admin_of(acct, username=f"alias{tag()}")
    resp = admin.get("account/users?paginate=false")
    assert resp.status_code == 200, resp.text
    assert admin.owner_id in [u["id"] for u in resp.json()["data"]]
    own = admin.get("account")
    assert own.status_code == 200 and own.json()["data"]["id"] == acct
    created = admin.put("account/menus", {"name": "Via alias"})
    assert created.status_code == 201
    assert master.get(f"accounts/{acct}/menus/{created.json()['data']['id']}").status_code == 200


def test_account_alias_without_auth_is_401(server):
    assert_error(httpx.get(f"{server[0]}/account/users"), 401, "invalid_credentials")
    assert_error(httpx.get(f"{server[0]}/account"), 401, "invalid_credentials")


# Routing errors ----------------------------------------------------------------------------------------------------


def test_api_v1_is_not_supported(server, master):
    resp = httpx.get(
        server[0].replace("/v2", "/v1") + f"/accounts/{master.account_id}", headers={"X-Auth-Token": master.token}
    )
    body = assert_error(resp, 404, "not_found")
    assert "version 1" in body["data"]["message"]


def test_unknown_noun_is_404_not_found(master, acct):
    assert_error(master.get("no_such_module"), 404, "not_found")
    assert_error(master.get(f"accounts/{acct}/no_such_module"), 404, "not_found")
    assert_error(httpx.get(master.base.replace("/v2", "") + "/favicon.ico"), 404, "not_found")


def test_names_after_system_configs_are_arguments_not_nouns(master):
    """Like Crossbar, `system_configs/users` names the `users` config category, not the users endpoint."""
    resp = master.get("system_configs/users")
    assert_error(resp, 404, "bad_identifier")
    assert resp.json()["data"]["cause"] == "users"


def test_invalid_account_id_is_404(master):
    body = assert_error(master.get("accounts/not-an-id/users"), 404, "bad_identifier")
    assert "invalid account_id" in body["data"]["message"] and body["data"]["cause"] == "not-an-id"
    assert_error(master.get(f"accounts/{'ab' * 16}/users"), 404, "bad_identifier")
    assert_error(master.get(f"accounts/{'AB' * 16}"), 404, "bad_identifier")


def test_unknown_sub_path_of_a_document_is_404(master, acct):
    user = master.create(acct, "users", {"first_name": "S", "last_name": "P"})
    assert_error(master.get(f"accounts/{acct}/menus/{user['id']}/extra/bits"), 404, "not_found")


# CORS and pretty printing ------------------------------------------------------------------------------------------


def test_cors_preflight_allows_what_monster_ui_sends(server):
    resp = httpx.options(
        f"{server[0]}/accounts/{'1' * 32}/users",
        headers={
            "Origin": "http://ui.example",
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "x-auth-token, content-type, x-kazoo-cluster-id",
        },
    )
    assert resp.status_code in (200, 204)
    allowed_headers = {h.strip().lower() for h in resp.headers["access-control-allow-headers"].split(",")}
    assert {"x-auth-token", "content-type", "x-kazoo-cluster-id"} <= allowed_headers
    methods = {m.strip() for m in resp.headers["access-control-allow-methods"].split(",")}
    assert {"PUT", "POST", "PATCH", "DELETE"} <= methods
    assert resp.headers["access-control-allow-origin"] in ("*", "http://ui.example")


def test_cors_headers_on_normal_and_error_replies(master, acct):
    for resp in (master.get(f"accounts/{acct}"), master.get(f"accounts/{acct}/users/{'0' * 32}")):
        assert resp.headers["access-control-allow-origin"] == "*"
        assert "location" in resp.headers["access-control-expose-headers"].lower()


def test_pretty_printing_by_header_and_query(master, acct):
    plain = master.get(f"accounts/{acct}")
    assert b"\n" not in plain.content
    by_header = master.get(f"accounts/{acct}", headers={"X-Pretty-Print": "true"})
    by_query = master.get(f"accounts/{acct}?pretty_print=true")
    for resp in (by_header, by_query):
        assert resp.status_code == 200
        assert b'\n  "' in resp.content
        assert resp.json()["data"]["id"] == acct
    assert b"\n" in master.get(f"accounts/{acct}/users/{'0' * 32}?pretty_print=true").content


def test_auth_token_in_query_and_envelope(master, acct):
    anon = Client(master.base)
    assert anon.get(f"accounts/{acct}?auth_token={master.token}").status_code == 200
    resp = anon.put(f"accounts/{acct}/menus", envelope={"data": {"name": "Envelope token"}, "auth_token": master.token})
    assert resp.status_code == 201, resp.text

"""Logging in (user_auth, api_auth, Basic), tokens, password recovery, disabled accounts and user-level rights."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from pathlib import Path

import jwt
import pytest

from tests.helpers import Client, credentials, sql, unique

PASSWORD = "Corr3ct-horse"


def jwt_payload(token: str) -> dict:
    parts = token.split(".")
    assert len(parts) == 3 and all(parts), token
    body = parts[1] + "=" * (-len(parts[1]) % 4)
    return json.loads(base64.urlsafe_b64decode(body))


def make_user(
    master: Client, account_id: str, username: str, priv_level: str = "admin", password: str = PASSWORD
) -> dict:
    return master.create(
        account_id,
        "users",
        {
            "first_name": "Test",
            "last_name": username.title(),
            "username": username,
            "password": password,
            "priv_level": priv_level,
        },
    )


def login(server, username: str, password: str = PASSWORD, **locator) -> Client:
    client = Client(server[0])
    client.login(username, password, **locator)
    return client


def put_login(server, data: dict):
    return Client(server[0]).put("user_auth", data)


@pytest.fixture(scope="module")
def tenant(master):
    """An account with an admin (alice) and a plain user (bob)."""
    account = master.create_account(master.account_id, unique("Auth Tenant"))
    alice = make_user(master, account["id"], "Alice")
    bob = make_user(master, account["id"], "bob", priv_level="user")
    return {"account": account, "alice": alice, "bob": bob}


# user_auth ------------------------------------------------------------------------------------------------------------


def test_md5_login_by_name_ignores_case_and_punctuation(server, tenant):
    account = tenant["account"]
    mangled = "--" + account["name"].upper().replace(" ", ".") + "!"
    resp = put_login(server, {"credentials": credentials("alice", PASSWORD), "account_name": mangled})
    assert resp.status_code == 201, resp.text
    assert resp.headers["content-type"] == "application/json"
    body = resp.json()
    data = body["data"]
    assert body["status"] == "success"
    assert data["account_id"] == account["id"] and data["owner_id"] == tenant["alice"]["id"]
    assert isinstance(data["apps"], list) and data["apps"], data
    assert {"id", "name", "source_url"} <= set(data["apps"][0])
    assert "api_url" not in data["apps"][0], "without a public URL apps use the UI's api.default"
    assert data["language"] == "en-US"
    assert data["is_reseller"] is False
    assert data["reseller_id"] == account["reseller_id"]
    claims = jwt_payload(body["auth_token"])
    assert claims["account_id"] == account["id"] and claims["owner_id"] == tenant["alice"]["id"]
    assert claims["method"] == "cb_user_auth"
    assert claims["exp"] == claims["iat"] + 3600
    assert abs(claims["iat"] - time.time()) < 60


def test_sha1_login_by_realm_ignores_case(server, tenant):
    sha = hashlib.sha1(f"alice:{PASSWORD}".encode()).hexdigest()
    realm = tenant["account"]["realm"].upper()
    resp = put_login(server, {"credentials": sha, "method": "sha", "account_realm": realm})
    assert resp.status_code == 201, resp.text
    assert resp.json()["data"]["owner_id"] == tenant["alice"]["id"]
    md5_as_sha = put_login(
        server, {"credentials": credentials("alice", PASSWORD), "method": "sha", "account_realm": realm}
    )
    assert md5_as_sha.status_code == 401


def test_wrong_password_is_401_with_the_crossbar_error_envelope(server, tenant):
    resp = put_login(server, {"credentials": credentials("alice", "wrong"), "account_name": tenant["account"]["name"]})
    assert resp.status_code == 401
    assert resp.headers["content-type"] == "application/json"
    body = resp.json()
    assert body["status"] == "error" and body["error"] == "401"
    assert body["message"] == "invalid_credentials"
    assert isinstance(body["data"], dict) and body["data"]["message"]
    assert not body["auth_token"]


def test_unknown_locators_are_validation_errors(server):
    resp = put_login(server, {"credentials": credentials("alice", PASSWORD), "account_name": unique("No Such")})
    assert resp.status_code == 400
    body = resp.json()
    assert body["message"] == "validation error"
    assert "not_found" in body["data"]["account_name"]
    resp = put_login(server, {"credentials": credentials("alice", PASSWORD), "account_realm": "nowhere.example.org"})
    assert resp.status_code == 400 and "not_found" in resp.json()["data"]["account_realm"]
    resp = put_login(server, {"account_name": "x"})
    assert resp.status_code == 400 and "required" in resp.json()["data"]["credentials"]


# where the token may come from ----------------------------------------------------------------------------------------


def test_token_is_read_from_header_query_envelope_and_bearer(server, tenant):
    alice = login(server, "alice", account_name=tenant["account"]["name"])
    path = f"{server[0]}/accounts/{alice.account_id}"
    anon = Client(server[0])
    assert anon.get(f"accounts/{alice.account_id}").status_code == 401
    assert anon.get(f"accounts/{alice.account_id}", headers={"X-Auth-Token": alice.token}).status_code == 200
    assert anon.get(f"accounts/{alice.account_id}?auth_token={alice.token}").status_code == 200
    bearer = anon.http.get(path, headers={"Authorization": f"Bearer {alice.token}"})
    assert bearer.status_code == 200 and bearer.json()["data"]["id"] == alice.account_id
    patched = anon.patch(
        f"accounts/{alice.account_id}/users/{alice.owner_id}",
        envelope={"data": {"title": "Chief"}, "auth_token": alice.token},
    )
    assert patched.status_code == 200 and patched.json()["data"]["title"] == "Chief"
    assert anon.get(f"accounts/{alice.account_id}", headers={"X-Auth-Token": alice.token + "x"}).status_code == 401
    assert anon.get(f"accounts/{alice.account_id}", headers={"X-Auth-Token": "not.a.token"}).status_code == 401


def test_basic_auth_with_account_id_and_md5_credentials(server, tenant):
    account_id = tenant["account"]["id"]
    anon = Client(server[0])

    def basic(creds: str) -> dict:
        return {"Authorization": "Basic " + base64.b64encode(f"{account_id}:{creds}".encode()).decode()}

    ok = anon.get(f"accounts/{account_id}/users", headers=basic(credentials("alice", PASSWORD)))
    assert ok.status_code == 200
    assert tenant["alice"]["id"] in [u["id"] for u in ok.json()["data"]]
    assert anon.get(f"accounts/{account_id}", headers=basic(credentials("alice", "nope"))).status_code == 401
    assert anon.get(f"accounts/{account_id}", headers={"Authorization": "Basic !!!"}).status_code == 401


# api_auth -------------------------------------------------------------------------------------------------------------


def test_api_key_login_and_regeneration(server, master):
    account = master.create_account(master.account_id)
    key = master.get(f"accounts/{account['id']}/api_key").json()["data"]["api_key"]
    anon = Client(server[0])
    resp = anon.put("api_auth", {"api_key": key})
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["data"]["account_id"] == account["id"] and "owner_id" not in body["data"]
    assert jwt_payload(body["auth_token"])["account_id"] == account["id"]
    by_key = Client(server[0], body["auth_token"])
    assert by_key.get(f"accounts/{account['id']}").json()["data"]["name"] == account["name"]
    assert anon.put("api_auth", {"api_key": "0" * 64}).status_code == 404
    new_key = master.put(f"accounts/{account['id']}/api_key").json()["data"]["api_key"]
    assert new_key != key
    assert anon.put("api_auth", {"api_key": key}).status_code == 404
    assert anon.put("api_auth", {"api_key": new_key}).status_code == 201


# token_auth and tokeninfo ---------------------------------------------------------------------------------------------


def test_token_auth_shows_and_revokes_the_token(server, tenant):
    locator = {"account_name": tenant["account"]["name"]}
    alice, other = login(server, "alice", **locator), login(server, "alice", **locator)
    info = alice.get("token_auth")
    assert info.status_code == 200
    assert info.json()["data"]["account_id"] == alice.account_id
    assert info.json()["data"]["owner_id"] == alice.owner_id
    assert alice.delete("token_auth").status_code == 200
    refused = alice.get(f"accounts/{alice.account_id}")
    assert refused.status_code == 401 and refused.json()["message"] == "invalid_credentials"
    assert other.get(f"accounts/{alice.account_id}").status_code == 200


def test_tokeninfo_needs_no_header(server, tenant):
    alice = login(server, "alice", account_name=tenant["account"]["name"])
    anon = Client(server[0])
    resp = anon.post("auth/tokeninfo", {"token": alice.token})
    assert resp.status_code == 200, resp.text
    assert resp.json()["data"]["account_id"] == alice.account_id
    assert resp.json()["data"]["owner_id"] == alice.owner_id
    assert anon.post("auth/tokeninfo", {"token": alice.token[:-2]}).status_code == 401


def test_user_auth_token_lookup_is_limited_to_the_own_account(server, master, tenant):
    alice = login(server, "alice", account_name=tenant["account"]["name"])
    own = alice.get(f"user_auth/{alice.token}")
    assert own.status_code == 200 and own.json()["data"]["account_id"] == alice.account_id
    foreign = alice.get(f"user_auth/{master.token}")
    assert foreign.status_code == 403
    assert "account_id" not in foreign.json()["data"]


def test_expired_or_foreign_signed_tokens_are_refused(server, tenant):
    (body,) = [json.loads(r.body) for r in sql(server, "SELECT body FROM docs WHERE id = 'crossbar_auth'")]
    key = body["pvt_signing_key"]
    alice = login(server, "alice", account_name=tenant["account"]["name"])
    claims = jwt_payload(alice.token)
    path = f"accounts/{alice.account_id}"
    anon = Client(server[0])
    fresh = jwt.encode(dict(claims, jti="f" * 32), key, algorithm="HS256")
    assert anon.get(path, headers={"X-Auth-Token": fresh}).status_code == 200  # the forging itself is sound
    now = int(time.time())
    expired = jwt.encode(dict(claims, iat=now - 7200, exp=now - 3600), key, algorithm="HS256")
    assert anon.get(path, headers={"X-Auth-Token": expired}).status_code == 401
    other_key = jwt.encode(claims, "someone-else-" * 4, algorithm="HS256")
    assert anon.get(path, headers={"X-Auth-Token": other_key}).status_code == 401


# password recovery ----------------------------------------------------------------------------------------------------


def reset_ids(server, account_id: str) -> list[str]:
    rows = sql(server, "SELECT body FROM docs WHERE account_id = :a AND type = 'password_reset'", a=account_id)
    return [json.loads(r.body)["pvt_link"].split("recovery=", 1)[1] for r in rows]


def test_password_recovery_resets_the_password_once(server, master):
    account = master.create_account(master.account_id)
    make_user(master, account["id"], "carol")
    anon = Client(server[0])
    request = {"username": "Carol", "account_name": account["name"], "ui_url": "https://portal.example.com/"}
    started = anon.put("user_auth/recovery", request)
    assert started.status_code == 201, started.text
    (reset_id,) = reset_ids(server, account["id"])
    assert reset_id not in started.text
    done = anon.post("user_auth/recovery", {"reset_id": reset_id, "password": "N3w-pass"})
    assert done.status_code == 200, done.text
    assert done.json()["data"]["account_id"] == account["id"] and done.json()["auth_token"]
    assert login(server, "carol", "N3w-pass", account_name=account["name"]).account_id == account["id"]
    old = anon.put("user_auth", {"credentials": credentials("carol", PASSWORD), "account_name": account["name"]})
    assert old.status_code == 401
    again = anon.post("user_auth/recovery", {"reset_id": reset_id, "password": "Other-pass"})
    assert again.status_code == 400 and "not_found" in again.json()["data"]["user"]


def test_recovery_of_an_unknown_user_reveals_nothing(server, master):
    account = master.create_account(master.account_id)
    anon = Client(server[0])
    resp = anon.put(
        "user_auth/recovery",
        {"username": "nobody", "account_name": account["name"], "ui_url": "https://portal.example.com/"},
    )
    assert resp.status_code == 201
    assert reset_ids(server, account["id"]) == []
    bogus = anon.post("user_auth/recovery", {"reset_id": account["id"] + "guessed"})
    assert bogus.status_code == 400


def test_no_password_is_stored_in_plain_text(server, master):
    account = master.create_account(master.account_id)
    secret = "Plain-text-canary-8817"
    make_user(master, account["id"], "dave", password=secret)
    login(server, "dave", secret, account_name=account["name"])
    hashes = [credentials("dave", secret), hashlib.sha1(f"dave:{secret}".encode()).hexdigest()]
    needles = [secret, *hashes]
    rows = sql(server, "SELECT body FROM docs WHERE account_id = :a", a=account["id"])
    keys = sql(server, "SELECT key FROM doc_keys WHERE account_id = :a", a=account["id"])
    stored = "\n".join([r.body for r in rows] + [k.key for k in keys])
    assert '"username":"dave"' in stored.replace(" ", "")  # the user really is in what we searched
    for needle in needles:
        assert needle not in stored
    for path in Path(server[1]).glob("cloudpbx.db*"):
        raw = path.read_bytes()
        assert not any(n.encode() in raw for n in needles), path


# disabled accounts ----------------------------------------------------------------------------------------------------


def test_an_account_disabled_by_its_parent_cannot_log_in_nor_use_its_tokens(server, master):
    account = master.create_account(master.account_id)
    child = master.create_account(account["id"])
    make_user(master, account["id"], "erin")
    make_user(master, child["id"], "fred")
    erin = login(server, "erin", account_name=account["name"])
    fred = login(server, "fred", account_name=child["name"])
    off = master.patch(f"accounts/{account['id']}", {"enabled": False})
    assert off.status_code == 200 and off.json()["data"]["enabled"] is False
    refused = put_login(server, {"credentials": credentials("erin", PASSWORD), "account_name": account["name"]})
    assert refused.status_code == 400
    assert refused.json()["data"] == {"account": {"disabled": {"message": "account disabled"}}}
    assert erin.get(f"accounts/{account['id']}").status_code == 401
    below = put_login(server, {"credentials": credentials("fred", PASSWORD), "account_name": child["name"]})
    assert below.status_code == 400 and "disabled" in below.json()["data"]["account"]
    assert fred.get(f"accounts/{child['id']}").status_code == 401
    assert master.patch(f"accounts/{account['id']}", {"enabled": True}).json()["data"]["enabled"] is True
    assert erin.get(f"accounts/{account['id']}").status_code == 200
    assert fred.get(f"accounts/{child['id']}").status_code == 200


def test_only_ancestors_enable_or_disable_an_account(server, master):
    account = master.create_account(master.account_id)
    child = master.create_account(account["id"])
    make_user(master, account["id"], "gina")
    gina = login(server, "gina", account_name=account["name"])
    kept = gina.patch(f"accounts/{account['id']}", {"enabled": False, "org": "Gina Inc"})
    assert kept.status_code == 200
    assert kept.json()["data"]["enabled"] is True and kept.json()["data"]["org"] == "Gina Inc"
    assert gina.post(f"accounts/{account['id']}", {"name": account["name"], "enabled": False}).status_code == 200
    assert master.get(f"accounts/{account['id']}").json()["data"]["enabled"] is True
    assert gina.get(f"accounts/{account['id']}").status_code == 200
    assert gina.patch(f"accounts/{child['id']}", {"enabled": False}).json()["data"]["enabled"] is False
    assert gina.patch(f"accounts/{child['id']}", {"enabled": True}).json()["data"]["enabled"] is True


# what a user-level login may do ---------------------------------------------------------------------------------------


def test_user_level_reads_its_account_and_edits_only_its_own_profile(server, tenant):
    account_id = tenant["account"]["id"]
    bob = login(server, "bob", account_name=tenant["account"]["name"])
    assert bob.get(f"accounts/{account_id}").status_code == 200
    me = bob.get(f"accounts/{account_id}/users/{bob.owner_id}")
    assert me.status_code == 200 and me.json()["data"]["priv_level"] == "user"
    renamed = bob.patch(f"accounts/{account_id}/users/{bob.owner_id}", {"first_name": "Robert"})
    assert renamed.status_code == 200 and renamed.json()["data"]["first_name"] == "Robert"
    whole = dict(renamed.json()["data"], last_name="Builder")
    replaced = bob.post(f"accounts/{account_id}/users/{bob.owner_id}", whole)
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["data"]["last_name"] == "Builder"
    assert bob.patch(f"accounts/{account_id}/users/{bob.owner_id}", {"priv_level": "admin"}).status_code == 403
    assert bob.post(f"accounts/{account_id}/users/{bob.owner_id}", dict(whole, priv_level="admin")).status_code == 403
    assert bob.patch(f"accounts/{account_id}/users/{tenant['alice']['id']}", {"first_name": "X"}).status_code == 403
    assert bob.put(f"accounts/{account_id}/devices", {"name": "Phone"}).status_code == 403
    assert bob.put(f"accounts/{account_id}/users", {"first_name": "A", "last_name": "B"}).status_code == 403
    assert bob.put(f"accounts/{account_id}", {"name": unique("Bob Sub")}).status_code == 403
    assert bob.put("accounts", {"name": unique("Bob Sub")}).status_code == 403
    assert bob.get(f"accounts/{account_id}/api_key").status_code == 403
    assert tenant["alice"]["id"] in [u["id"] for u in bob.get(f"accounts/{account_id}/users").json()["data"]]
    alice = login(server, "alice", account_name=tenant["account"]["name"])
    assert alice.get(f"accounts/{account_id}/users/{bob.owner_id}").json()["data"]["priv_level"] == "user"


def test_a_disabled_user_cannot_log_in_nor_use_its_tokens(server, master):
    account = master.create_account(master.account_id)
    user = make_user(master, account["id"], "hank", priv_level="user")
    hank = login(server, "hank", account_name=account["name"])
    assert master.patch(f"accounts/{account['id']}/users/{user['id']}", {"enabled": False}).status_code == 200
    assert hank.get(f"accounts/{account['id']}").status_code == 401
    again = put_login(server, {"credentials": credentials("hank", PASSWORD), "account_name": account["name"]})
    assert again.status_code == 401


def test_recovery_is_refused_while_the_account_is_disabled(server, master):
    account = master.create_account(master.account_id)
    make_user(master, account["id"], "ivy")
    anon = Client(server[0])
    anon.put(
        "user_auth/recovery",
        {"username": "ivy", "account_name": account["name"], "ui_url": "https://portal.example.com/"},
    )
    (reset_id,) = reset_ids(server, account["id"])
    master.patch(f"accounts/{account['id']}", {"enabled": False})
    refused = anon.post("user_auth/recovery", {"reset_id": reset_id, "password": "Ivy-new-1"})
    assert refused.status_code == 400 and "disabled" in refused.json()["data"]["account"]
    assert "auth_token" not in refused.json() or not refused.json()["auth_token"]
    master.patch(f"accounts/{account['id']}", {"enabled": True})
    assert anon.post("user_auth/recovery", {"reset_id": reset_id, "password": "Ivy-new-1"}).status_code == 200
    assert login(server, "ivy", "Ivy-new-1", account_name=account["name"]).account_id == account["id"]

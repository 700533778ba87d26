"""Failed logins are throttled per (client address, account) and per account, across processes, and audited.

Each test guesses from its own loopback addresses (127.0.0.0/8 all reach the server), so one test's lockout never
touches another's; the session server's request buckets are too large to interfere.
"""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.conftest import start_server, stop_server
from tests.helpers import Client, credentials, unique

PASSWORD = "Gu3ss-me-not"


def from_address(server, address: str) -> Client:
    """An anonymous client whose requests leave from `address`."""
    client = Client(server[0])
    client.http = httpx.Client(timeout=30, transport=httpx.HTTPTransport(local_address=address))
    return client


@pytest.fixture()
def target(master):
    """A fresh account with an admin and a user-level user, and the admin logged in."""
    account = master.create_account(master.account_id, unique("Guessed"))
    master.create(
        account["id"],
        "users",
        {"first_name": "Vic", "last_name": "Tim", "username": "victim", "password": PASSWORD, "priv_level": "admin"},
    )
    master.create(
        account["id"],
        "users",
        {"first_name": "Us", "last_name": "Er", "username": "plain", "password": PASSWORD, "priv_level": "user"},
    )
    admin = Client(master.base)
    admin.login("victim", PASSWORD, account_name=account["name"])
    return account, admin


def login_as(client: Client, account: dict, password: str) -> httpx.Response:
    return client.put("user_auth", {"credentials": credentials("victim", password), "account_name": account["name"]})


def assert_throttled(resp: httpx.Response) -> int:
    assert resp.status_code == 429, resp.text
    body = resp.json()
    assert body["status"] == "error" and body["error"] == "429" and body["message"] == "too_many_requests"
    wait = int(resp.headers["retry-after"])
    assert wait >= 1 and body["data"]["retry_after"] == wait
    return wait


def attempts(admin: Client, account_id: str) -> list[dict]:
    resp = admin.get(f"accounts/{account_id}/auth/attempts")
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]


def test_300_wrong_logins_lock_that_address_out_but_not_the_user(server, target):
    account, admin = target
    guesser = from_address(server, "127.0.0.11")
    codes = [login_as(guesser, account, f"wrong-{n}").status_code for n in range(300)]
    assert codes[:5] == [401] * 5  # a few typos cost nothing
    assert set(codes) == {401, 429} and codes.count(429) > 280
    assert assert_throttled(login_as(guesser, account, PASSWORD)) > 60  # refused unchecked, even when right
    assert login_as(from_address(server, "127.0.0.12"), account, PASSWORD).status_code == 201
    audit = attempts(admin, account["id"])
    assert len(audit) == codes.count(401)
    assert {(a["auth_type"], a["client_ip"], a["status"]) for a in audit} == {("user_auth", "127.0.0.11", "failed")}
    assert all(isinstance(a["timestamp"], int) and a["id"] for a in audit)
    assert [a["timestamp"] for a in audit] == sorted((a["timestamp"] for a in audit), reverse=True)
    one = admin.get(f"accounts/{account['id']}/auth/attempts/{audit[0]['id']}")
    assert one.status_code == 200 and one.json()["data"] == audit[0]
    assert admin.get(f"accounts/{account['id']}/auth/attempts/{'0' * 32}").status_code == 404


def test_the_audit_is_for_the_account_admins_and_pages(server, target, master):
    account, admin = target
    guesser = from_address(server, "127.0.0.13")
    for n in range(3):
        assert login_as(guesser, account, f"nope-{n}").status_code == 401
    plain = Client(server[0])
    plain.login("plain", PASSWORD, account_name=account["name"])
    assert plain.get(f"accounts/{account['id']}/auth/attempts").status_code == 403
    assert len(attempts(master, account["id"])) == 3  # an ancestor's admin reads it too
    other = master.create_account(master.account_id)
    assert attempts(master, other["id"]) == []
    first = admin.get(f"accounts/{account['id']}/auth/attempts?page_size=2").json()
    assert len(first["data"]) == 2 and first["next_start_key"]
    rest = admin.get(f"accounts/{account['id']}/auth/attempts?page_size=2&start_key={first['next_start_key']}")
    assert [a["id"] for a in first["data"] + rest.json()["data"]] == [a["id"] for a in attempts(admin, account["id"])]


def test_correct_logins_are_not_counted_as_failures(server, target):
    account, _ = target
    user = from_address(server, "127.0.0.14")
    for n in range(3):
        assert login_as(user, account, f"typo-{n}").status_code == 401
    for _ in range(10):
        assert login_as(user, account, PASSWORD).status_code == 201
    assert login_as(user, account, "typo-4").status_code == 401
    assert login_as(user, account, "typo-5").status_code == 401  # the fifth failure is still free
    assert_throttled(login_as(user, account, "typo-6"))  # and one's own logins did not reset the count


def test_concurrent_guesses_cannot_slip_past_the_count(server, target):
    account, admin = target
    guesser = from_address(server, "127.0.0.25")
    with ThreadPoolExecutor(max_workers=25) as pool:
        codes = list(pool.map(lambda n: login_as(guesser, account, f"burst-{n}").status_code, range(50)))
    assert sorted(set(codes)) == [401, 429] and codes.count(401) == 5, codes
    assert len(attempts(admin, account["id"])) == 5


def test_many_addresses_guessing_one_account_leave_each_one_free_failure(server, target):
    account, _ = target
    for n in range(20):
        assert login_as(from_address(server, f"127.0.1.{n + 1}"), account, f"spray-{n}").status_code == 401
    late = from_address(server, "127.0.1.100")
    assert login_as(late, account, "spray-late").status_code == 401
    assert_throttled(login_as(late, account, "spray-again"))  # five free failures outside an attack
    assert login_as(from_address(server, "127.0.1.101"), account, PASSWORD).status_code == 201


def test_the_lockout_holds_in_every_server_process(server, target, tmp_path):
    account, _ = target
    guesser = from_address(server, "127.0.0.15")
    codes = [login_as(guesser, account, "wrong").status_code for _ in range(10)]
    assert codes[-1] == 429, codes
    proc, base = start_server(tmp_path, server[2])  # a second process on the same database
    try:
        there = from_address((base,), "127.0.0.15")
        assert_throttled(login_as(there, account, PASSWORD))
        assert login_as(from_address((base,), "127.0.0.16"), account, PASSWORD).status_code == 201
    finally:
        stop_server(proc)


def test_wrong_api_keys_are_throttled_per_address(server, master):
    account = master.create_account(master.account_id)
    key = master.get(f"accounts/{account['id']}/api_key").json()["data"]["api_key"]
    guesser = from_address(server, "127.0.0.17")
    codes = [guesser.put("api_auth", {"api_key": f"{n:064x}"}).status_code for n in range(100)]
    assert codes[:5] == [404] * 5 and set(codes) == {404, 429} and codes.count(429) > 80
    assert_throttled(guesser.put("api_auth", {"api_key": key}))
    assert from_address(server, "127.0.0.18").put("api_auth", {"api_key": key}).status_code == 201


def test_wrong_basic_auth_is_throttled_and_audited(server, target):
    account, admin = target

    def basic(client: Client, password: str) -> httpx.Response:
        creds = base64.b64encode(f"{account['id']}:{credentials('victim', password)}".encode()).decode()
        return client.get(f"accounts/{account['id']}", headers={"Authorization": f"Basic {creds}"})

    guesser = from_address(server, "127.0.0.19")
    codes = [basic(guesser, f"bad-{n}").status_code for n in range(300)]
    assert codes[:5] == [401] * 5 and set(codes) == {401, 429} and codes.count(429) > 280
    assert_throttled(basic(guesser, PASSWORD))
    assert basic(from_address(server, "127.0.0.20"), PASSWORD).status_code == 200
    audit = attempts(admin, account["id"])
    assert {(a["auth_type"], a["client_ip"]) for a in audit} == {("basic_auth", "127.0.0.19")}
    assert len(audit) == codes.count(401)


def test_password_recovery_guesses_are_throttled(server, target):
    account, admin = target
    guesser = from_address(server, "127.0.0.21")
    start = {"account_name": account["name"], "ui_url": "https://portal.example.com/"}
    codes = [guesser.put("user_auth/recovery", dict(start, username=f"who-{n}")).status_code for n in range(10)]
    assert codes[:5] == [201] * 5 and codes[5:] == [429] * 5  # unknown users answer as known ones do, until locked
    assert_throttled(guesser.put("user_auth/recovery", dict(start, username="victim")))
    assert (
        from_address(server, "127.0.0.22").put("user_auth/recovery", dict(start, username="victim")).status_code == 201
    )
    resetter = from_address(server, "127.0.0.23")
    codes = [
        resetter.post("user_auth/recovery", {"reset_id": account["id"] + f"guess{n}"}).status_code for n in range(10)
    ]
    assert codes[:5] == [400] * 5 and codes[5:] == [429] * 5
    kinds = {(a["auth_type"], a["client_ip"]) for a in attempts(admin, account["id"])}
    assert kinds == {("user_auth_recovery", "127.0.0.21"), ("user_auth_recovery", "127.0.0.23")}


def test_a_disabled_account_answers_alike_for_right_and_wrong_passwords(server, target, master):
    account, _ = target
    assert master.patch(f"accounts/{account['id']}", {"enabled": False}).status_code == 200
    client = from_address(server, "127.0.0.24")
    right, wrong = login_as(client, account, PASSWORD), login_as(client, account, "not-it")
    assert right.status_code == wrong.status_code == 400

    def stable(resp: httpx.Response) -> dict:
        return {k: v for k, v in resp.json().items() if k not in ("request_id", "timestamp")}

    assert stable(right) == stable(wrong)
    assert right.json()["data"] == {"account": {"disabled": {"message": "account disabled"}}}
    key = master.get(f"accounts/{account['id']}/api_key").json()["data"]["api_key"]
    refused = client.put("api_auth", {"api_key": key})
    unknown = client.put("api_auth", {"api_key": "f" * 64})
    assert refused.status_code == unknown.status_code == 404
    assert refused.json()["data"]["message"] == unknown.json()["data"]["message"]


def test_the_audit_paths_are_declared_and_nothing_else(server, target):
    """The router serves the audit only in its declared shapes, read-only, and the document says so."""
    account, admin = target
    attempts_path = f"accounts/{account['id']}/auth/attempts"
    refused = admin.put(attempts_path, {})
    assert refused.status_code == 405 and refused.headers["allow"] == "GET"
    for path in (f"{attempts_path}/not-an-id", f"{attempts_path}/{'0' * 32}/more", f"accounts/{account['id']}/auth"):
        assert admin.get(path).status_code == 404, path
    paths = Client(server[0]).get("openapi.json").json()["paths"]
    assert set(paths["/accounts/{account_id}/auth/attempts"]) == {"get"}
    item = paths["/accounts/{account_id}/auth/attempts/{id}"]["get"]
    assert item["parameters"][1]["schema"]["pattern"] == "^[0-9a-f]{32}$"
    assert "429" in item["responses"]

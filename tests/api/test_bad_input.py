"""Bad requests are refused with Crossbar's error envelope and leave every stored document as it was."""

from __future__ import annotations

import httpx
import pytest

NOUNS = ("users", "devices", "callflows", "groups", "vmboxes", "menus")
MISSING = "0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def acct(master) -> str:
    account_id = master.create_account(master.account_id)["id"]
    master.create(account_id, "users", {"first_name": "Keep", "last_name": "Me"})
    master.create(account_id, "devices", {"name": "Keep phone"})
    master.create(account_id, "menus", {"name": "Keep menu"})
    return account_id


def snapshot(master, account_id: str) -> dict:
    """Every document of the account, in full, and the account itself."""
    state = {"account": master.get(f"accounts/{account_id}").json()["data"]}
    for noun in NOUNS:
        rows = master.get(f"accounts/{account_id}/{noun}?paginate=false").json()["data"]
        state[noun] = {r["id"]: master.get(f"accounts/{account_id}/{noun}/{r['id']}").json()["revision"]
                       for r in rows}
    return state


def raw(master, method: str, path: str, content: bytes, content_type: str = "application/json") -> httpx.Response:
    return master.http.request(method, f"{master.base}/{path}", content=content,
                               headers={"X-Auth-Token": master.token, "Content-Type": content_type})


def assert_error(resp: httpx.Response, code: int, message: str) -> dict:
    assert resp.status_code == code, resp.text
    assert resp.headers["content-type"] == "application/json"
    body = resp.json()
    assert body["status"] == "error" and body["error"] == str(code) and body["message"] == message
    return body


@pytest.fixture
def unchanged(master, acct):
    """Asserts after the test that nothing stored in the account changed."""
    before = snapshot(master, acct)
    yield
    assert snapshot(master, acct) == before


@pytest.mark.parametrize("body", [b'{"data": {"first_name": "x",', b"{data: 1}", b"\xff\xfe{}", b'{"data": NaN}',
                                  b"[" * 5000 + b"]" * 5000])
def test_malformed_json_is_parse_error(master, acct, unchanged, body):
    resp = raw(master, "PUT", f"accounts/{acct}/users", body)
    assert assert_error(resp, 400, "parse_error")["data"]["message"] == "failed to parse request body"


@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"42", b"null"])
def test_body_that_is_not_an_object(master, acct, unchanged, body):
    resp = raw(master, "PUT", f"accounts/{acct}/menus", body)
    assert resp.status_code == 400 and resp.json()["status"] == "error"


@pytest.mark.parametrize("data", [[{"name": "x"}], "name", 5, True, None])
@pytest.mark.parametrize("method", ["PUT", "POST", "PATCH"])
def test_data_of_the_wrong_type(master, acct, unchanged, data, method):
    menu_id = next(iter(snapshot(master, acct)["menus"]))
    path = f"accounts/{acct}/menus" + ("" if method == "PUT" else f"/{menu_id}")
    resp = master.request(method, path, envelope={"data": data})
    body = assert_error(resp, 400, "validation error")
    assert body["data"]["data"]["type"]["message"]


def test_missing_data_key(master, acct, unchanged):
    body = assert_error(master.put(f"accounts/{acct}/menus", envelope={"name": "no envelope"}), 400,
                        "validation error")
    assert "required" in body["data"]["data"]


def test_huge_body_is_413_with_the_error_envelope(master, acct, unchanged):
    blob = b'{"data": {"name": "' + b"x" * (10 * 1024 * 1024) + b'"}}'
    resp = raw(master, "PUT", f"accounts/{acct}/menus", blob)
    body = assert_error(resp, 413, "request_entity_too_large")
    assert "request_id" in body


def test_huge_chunked_body_is_413(master, acct, unchanged):
    def chunks():
        yield b'{"data": {"name": "'
        for _ in range(10):
            yield b"x" * (1024 * 1024)
        yield b'"}}'

    resp = master.http.request("PUT", f"{master.base}/accounts/{acct}/menus", content=chunks(),
                               headers={"X-Auth-Token": master.token, "Content-Type": "application/json"})
    assert_error(resp, 413, "request_entity_too_large")


@pytest.mark.parametrize("noun", NOUNS)
@pytest.mark.parametrize("method", ["GET", "POST", "PATCH", "DELETE"])
def test_unknown_ids_are_404(master, acct, unchanged, noun, method):
    resp = master.request(method, f"accounts/{acct}/{noun}/{MISSING}", envelope={"data": {"name": "x"}})
    assert assert_error(resp, 404, "bad_identifier")["data"]["cause"] == MISSING


@pytest.mark.parametrize("method", ["GET", "POST", "PATCH", "DELETE"])
def test_id_of_another_type_is_404(master, acct, unchanged, method):
    """A user's id is not a device, even in the same account."""
    user_id = next(iter(snapshot(master, acct)["users"]))
    resp = master.request(method, f"accounts/{acct}/devices/{user_id}", envelope={"data": {"name": "x"}})
    assert_error(resp, 404, "bad_identifier")


def test_id_from_another_account_is_404(master, acct, unchanged):
    elsewhere = master.create_account(master.account_id)["id"]
    user_id = next(iter(snapshot(master, acct)["users"]))
    assert_error(master.get(f"accounts/{elsewhere}/users/{user_id}"), 404, "bad_identifier")
    assert_error(master.patch(f"accounts/{elsewhere}/users/{user_id}", {"first_name": "Hijack"}), 404,
                 "bad_identifier")
    assert_error(master.delete(f"accounts/{elsewhere}/users/{user_id}"), 404, "bad_identifier")


def test_unknown_account_is_404(master):
    assert_error(master.get(f"accounts/{MISSING}/users"), 404, "bad_identifier")
    assert_error(master.put(f"accounts/{MISSING}/users", {"first_name": "a", "last_name": "b"}), 404,
                 "bad_identifier")


def test_garbage_ids_are_404_not_500(master, acct, unchanged):
    for ident in ("not-an-id", "%00", "x" * 300, "'; drop table docs; --"):
        resp = master.get(f"accounts/{acct}/users/{ident}")
        assert resp.status_code == 404, (ident, resp.text)


@pytest.mark.parametrize("noun,data", [("devices", {"name": "nul", "sip": {"username": "ab\u0000c"}}),
                                       ("menus", {"name": "nul\u0000name"}),
                                       ("callflows", {"numbers": ["1\u00002"]})])
def test_nul_characters_in_the_body_are_refused(master, acct, unchanged, noun, data):
    """PostgreSQL text cannot hold U+0000: refused up front on every backend, never a 500."""
    assert_error(master.put(f"accounts/{acct}/{noun}", data), 400, "parse_error")


def test_nul_characters_in_the_query_and_path(master, acct, unchanged):
    assert_error(master.get(f"accounts/{acct}/menus?start_key=%00"), 400, "parse_error")
    assert_error(master.get(f"accounts/{acct}/menus?filter_name=a%00b"), 400, "parse_error")
    assert_error(master.get(f"accounts/{acct}/menus/ab%00cd"), 404, "not_found")


def test_an_escaped_backslash_before_u0000_is_not_nul(master, acct):
    resp = master.put(f"accounts/{acct}/menus", {"name": "ok \\u0000 literal"})
    assert resp.status_code == 201 and resp.json()["data"]["name"] == "ok \\u0000 literal"


def test_failed_validation_stores_nothing(master, acct, unchanged):
    assert master.put(f"accounts/{acct}/users", {"first_name": "Only"}).status_code == 400
    device_id = next(iter(snapshot(master, acct)["devices"]))
    assert master.post(f"accounts/{acct}/devices/{device_id}", {"sip": {"invite_format": "x"}}).status_code == 400
    assert master.patch(f"accounts/{acct}/devices/{device_id}", {"owner_id": MISSING}).status_code == 400


def test_bad_query_values_are_400(master, acct, unchanged):
    assert master.get(f"accounts/{acct}/menus?page_size=-1").status_code == 400
    assert master.get(f"accounts/{acct}/menus?created_to=soon").status_code == 400


def test_bad_auth_token_is_401(master, acct):
    for token in ("garbage", "a.b.c", master.token[:-4] + "AAAA"):
        resp = master.http.get(f"{master.base}/accounts/{acct}/users", headers={"X-Auth-Token": token})
        assert_error(resp, 401, "invalid_credentials")

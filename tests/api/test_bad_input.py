"""Bad requests are refused with Crossbar's error envelope and leave every stored document as it was."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import db_url, server_log, start_server, stop_server

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
        state[noun] = {r["id"]: master.get(f"accounts/{account_id}/{noun}/{r['id']}").json()["revision"] for r in rows}
    return state


def raw(master, method: str, path: str, content: bytes, content_type: str = "application/json") -> httpx.Response:
    return master.http.request(
        method,
        f"{master.base}/{path}",
        content=content,
        headers={"X-Auth-Token": master.token, "Content-Type": content_type},
    )


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


@pytest.mark.parametrize(
    "body", [b'{"data": {"first_name": "x",', b"{data: 1}", b"\xff\xfe{}", b'{"data": NaN}', b"[" * 5000 + b"]" * 5000]
)
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
    body = assert_error(master.put(f"accounts/{acct}/menus", envelope={"name": "no envelope"}), 400, "validation error")
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

    resp = master.http.request(
        "PUT",
        f"{master.base}/accounts/{acct}/menus",
        content=chunks(),
        headers={"X-Auth-Token": master.token, "Content-Type": "application/json"},
    )
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
    assert_error(master.patch(f"accounts/{elsewhere}/users/{user_id}", {"first_name": "Hijack"}), 404, "bad_identifier")
    assert_error(master.delete(f"accounts/{elsewhere}/users/{user_id}"), 404, "bad_identifier")


def test_unknown_account_is_404(master):
    assert_error(master.get(f"accounts/{MISSING}/users"), 404, "bad_identifier")
    assert_error(master.put(f"accounts/{MISSING}/users", {"first_name": "a", "last_name": "b"}), 404, "bad_identifier")


def test_garbage_ids_are_404_not_500(master, acct, unchanged):
    for ident in ("not-an-id", "%00", "x" * 300, "'; drop table docs; --"):
        resp = master.get(f"accounts/{acct}/users/{ident}")
        assert resp.status_code == 404, (ident, resp.text)


@pytest.mark.parametrize(
    "noun,data",
    [
        ("devices", {"name": "nul", "sip": {"username": "ab\u0000c"}}),
        ("menus", {"name": "nul\u0000name"}),
        ("callflows", {"numbers": ["1\u00002"]}),
    ],
)
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


# Nesting -----------------------------------------------------------------------------------------------------------


def nested(depth: int) -> bytes:
    """A user body whose `custom` field makes the whole body `depth` levels deep (the envelope is level 1)."""
    inner = b"[" * (depth - 2) + b"]" * (depth - 2)
    return b'{"data": {"first_name": "Deep", "last_name": "Doc", "custom": ' + inner + b"}}"


@pytest.mark.parametrize("depth", [65, 255, 600, 1024])
def test_json_nested_deeper_than_64_levels_is_a_parse_error(master, acct, unchanged, depth):
    body = assert_error(raw(master, "PUT", f"accounts/{acct}/users", nested(depth)), 400, "parse_error")
    assert "64 levels" in body["data"]["message"]


@pytest.mark.parametrize("depth", [65, 300])
def test_deep_json_is_refused_before_authentication(master, depth):
    """`PUT /v2/user_auth` reads the body before it knows the caller: depth is checked there too."""
    inner = b"[" * depth + b"]" * depth
    resp = master.http.put(f"{master.base}/user_auth", content=b'{"data": {"credentials": ' + inner + b"}}")
    assert "64 levels" in assert_error(resp, 400, "parse_error")["data"]["message"]


def test_json_64_levels_deep_is_accepted(master, acct):
    resp = raw(master, "PUT", f"accounts/{acct}/users", nested(64))
    assert resp.status_code == 201, resp.text
    user = master.get(f"accounts/{acct}/users/{resp.json()['data']['id']}").json()["data"]
    assert user["custom"] == nested_list(62)
    master.delete(f"accounts/{acct}/users/{user['id']}")


def nested_list(levels: int) -> list:
    value: list = []
    for _ in range(levels - 1):
        value = [value]
    return value


def test_each_refused_deep_body_logs_one_line(tmp_path):
    """A refused body costs one log line, not a traceback per request (157 KB each before)."""
    proc, base = start_server(tmp_path, db_url(tmp_path))
    try:
        with httpx.Client(timeout=10) as http:
            for _ in range(20):
                resp = http.put(f"{base}/user_auth", content=b'{"data": ' + b"[" * 300 + b"]" * 300 + b"}")
                assert resp.status_code == 400
    finally:
        stop_server(proc)
    log = server_log(proc)
    assert log.count("nested deeper than 64 levels") == 20, log[-2000:]
    assert "Traceback" not in log


def test_deep_query_values_are_not_500(master, acct, unchanged):
    for value in ("[" * 5000, "[" * 3000 + "]" * 3000, "{" * 2000):
        resp = master.get(f"accounts/{acct}/users?filter_first_name={value}")
        assert resp.status_code == 200 and resp.json()["data"] == [], resp.text[-300:]


# Ids and header values ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["t%C3%A9st", "line%0Abreak", "%E2%82%AC", "tab%09here", "sp%20ace", "q%22uote", "x" * 129]
)
def test_system_config_names_outside_the_id_grammar_are_refused(master, name):
    routed = "%0" not in name  # control characters fit no path segment's grammar: the router answers 404 itself
    for method in ("PUT", "POST"):
        resp = master.request(method, f"system_configs/{name}", {"key": "value"})
        if routed:
            body = assert_error(resp, 400, "validation error")
            assert "pattern" in body["data"]["id"]
        else:
            assert_error(resp, 404, "not_found")
    for method in ("GET", "DELETE"):
        assert_error(master.request(method, f"system_configs/{name}"), 404, "bad_identifier" if routed else "not_found")
    listed = master.get("system_configs").json()["data"]
    assert not [c for c in listed if not c.isascii() or not c.isprintable() or len(c) > 128], listed


def test_system_config_names_inside_the_grammar_work(master):
    name = "crossbar.test_Grammar+1:a@b%2F-c"
    resp = master.put(f"system_configs/{name.replace('%', '%25')}", {"key": "value"})
    assert resp.status_code == 201, resp.text
    assert resp.headers["location"] == name
    assert master.get(f"system_configs/{name.replace('%', '%25')}").json()["data"]["key"] == "value"
    assert master.delete(f"system_configs/{name.replace('%', '%25')}").status_code == 200


def test_csv_file_names_outside_latin_1_use_rfc_6266(master, acct):
    resp = master.get(f"accounts/{acct}/users?accept=csv&file_name=%E2%82%AC%20r%C3%A9sum%C3%A9.csv")
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-disposition"] == (
        "attachment; filename=\"_ r_sum_.csv\"; filename*=UTF-8''%E2%82%AC%20r%C3%A9sum%C3%A9.csv"
    )
    resp = master.get(f"accounts/{acct}/users?accept=csv", headers={"X-File-Name": "caf\xe9.csv".encode("latin-1")})
    assert resp.headers["content-disposition"] == "attachment; filename=\"caf_.csv\"; filename*=UTF-8''caf%C3%A9.csv"


def test_control_characters_never_reach_a_header(master, acct):
    resp = master.get(f"accounts/{acct}/users?accept=csv&file_name=a%0D%0ASet-Cookie:%20x=1%0D%0A%22.csv")
    assert resp.status_code == 200 and "set-cookie" not in resp.headers
    disposition = resp.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="a__Set-Cookie: x=1___.csv"; filename*=UTF-8')
    assert "\r" not in disposition and "\n" not in disposition


# Integers ----------------------------------------------------------------------------------------------------------

HUGE = b"4704930584112529300000000"


def limits_of(master, account_id: str) -> dict:
    return master.get(f"accounts/{account_id}/limits").json()["data"]


@pytest.mark.parametrize(
    "value",
    [
        HUGE,
        b"9007199254740992",
        b"-9223372036854775809",
        b'"99999999999999999999"',
        b'"9007199254740992"',
        b"1.5",
        b"1e30",
        b"9007199254740992.0",
    ],
)
def test_integers_out_of_range_or_not_whole_are_refused(master, acct, value):
    before = limits_of(master, acct)
    resp = raw(master, "POST", f"accounts/{acct}/limits", b'{"data": {"inbound_trunks": ' + value + b"}}")
    errors = assert_error(resp, 400, "validation error")["data"]["inbound_trunks"]
    assert set(errors) & {"maximum", "minimum", "type"}, errors
    assert limits_of(master, acct) == before


def test_whole_floats_are_stored_as_integers(master, acct):
    resp = raw(master, "POST", f"accounts/{acct}/limits", b'{"data": {"inbound_trunks": 5.0, "calls": 1e2}}')
    assert resp.status_code == 200, resp.text
    stored = limits_of(master, acct)
    assert stored["inbound_trunks"] == 5 and isinstance(stored["inbound_trunks"], int)
    assert stored["calls"] == 100 and isinstance(stored["calls"], int)
    assert b'"inbound_trunks":5,' in master.get(f"accounts/{acct}/limits").content
    resp = raw(master, "POST", f"accounts/{acct}/limits", b'{"data": {"inbound_trunks": 9007199254740991}}')
    assert resp.status_code == 200 and limits_of(master, acct)["inbound_trunks"] == 2**53 - 1, resp.text


@pytest.mark.parametrize(
    "noun,data,field",
    [
        ("conferences", {"name": "c", "max_participants": 2**63}, "max_participants"),
        ("temporal_rules", {"name": "t", "cycle": "daily", "start_date": -(2**63) - 1}, "start_date"),
        ("vmboxes", {"name": "v", "mailbox": "9876", "seek_duration_ms": 2**64}, "seek_duration_ms"),
        ("directories", {"name": "d", "max_dtmf": 10**30}, "max_dtmf"),
    ],
)
def test_every_schema_integer_is_bounded(master, acct, noun, data, field):
    assert field in assert_error(master.put(f"accounts/{acct}/{noun}", data), 400, "validation error")["data"]


def test_huge_exponents_are_parse_errors(master, acct, unchanged):
    resp = raw(master, "PUT", f"accounts/{acct}/menus", b'{"data": {"name": "m", "timeout": 1e400}}')
    assert_error(resp, 400, "parse_error")


@pytest.mark.parametrize(
    "query",
    [
        "page_size=99999999999999999999999",
        "page_size=%C2%B2",
        "created_from=%C2%B2",
        "created_to=-99999999999999999999999999999",
        "modified_from=1" + "0" * 5000,
    ],
)
def test_query_integers_out_of_range_are_400(master, acct, query):
    body = assert_error(master.get(f"accounts/{acct}/menus?{query}"), 400, "validation error")
    assert query.split("=")[0] in body["data"]


@pytest.mark.parametrize(
    "query",
    [
        "created_from=99999999999999999999999999",
        "created_to=1" + "0" * 30,
        "created_to=315569520000",
        "start_key=" + "9" * 5000,
        "start_key=%C2%B2-x",
    ],
)
def test_cdr_query_integers_out_of_range_are_400(master, acct, query):
    body = assert_error(master.get(f"accounts/{acct}/cdrs?{query}"), 400, "validation error")
    assert query.split("=")[0] in body["data"]


def test_cdr_range_at_the_last_second_a_date_can_spell(master, acct):
    resp = master.get(f"accounts/{acct}/cdrs?created_from=315569519000&created_to=315569519999")
    assert resp.status_code == 200 and resp.json()["data"] == [], resp.text


# CSV ---------------------------------------------------------------------------------------------------------------


def test_csv_spells_booleans_and_nulls_as_json_and_defuses_formulas(master, acct):
    import csv
    import io

    user = master.create(
        acct,
        "users",
        {
            "first_name": '=HYPERLINK("http://x")',
            "last_name": "+1 555 0100",
            "title": "-2+3",
            "vm_to_email_enabled": False,
            "enabled": True,
            "note": "@SUM(A1)",
            "nick": "\tx",
            "gone": None,
            "minus": -5,
        },
    )
    resp = master.get(f"accounts/{acct}/users/{user['id']}?accept=csv")
    assert resp.status_code == 200, resp.text
    [row] = list(csv.DictReader(io.StringIO(resp.text)))
    assert row["first_name"] == '\'=HYPERLINK("http://x")' and row["last_name"] == "'+1 555 0100"
    assert row["title"] == "'-2+3" and row["note"] == "'@SUM(A1)" and row["nick"] == "'\tx"
    assert row["gone"] == "" and row["minus"] == "-5", "JSON numbers stay numbers"
    assert row["enabled"] == "true" and row["vm_to_email_enabled"] == "false"
    assert "True" not in resp.text and "False" not in resp.text
    master.delete(f"accounts/{acct}/users/{user['id']}")


def test_byte_ranges_that_are_no_numbers_are_ignored(master, acct):
    """`Range` is read as ASCII digits only: a Latin-1 '²' or a number past any file size is no range (200)."""
    media_id = master.create(acct, "media", {"name": "Ranged", "media_source": "upload"})["id"]
    path = f"accounts/{acct}/media/{media_id}/raw"
    audio = b"ID3\x03\x00" + bytes(range(256)) * 4
    assert raw(master, "POST", path, audio, "audio/mpeg").status_code == 200
    for header in (b"bytes=\xb2-", b"bytes=0-\xb9", b"bytes=" + b"9" * 5000 + b"-", b"bytes=-" + b"9" * 5000):
        resp = master.http.get(f"{master.base}/{path}", headers={"X-Auth-Token": master.token, "Range": header})
        assert resp.status_code == 200 and resp.content == audio, (header[:20], resp.status_code)
    master.delete(f"accounts/{acct}/media/{media_id}")

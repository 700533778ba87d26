"""The ASGI front reads requests straight from uvicorn: bodies in chunks, methods HTTP allows but Crossbar does not."""

from __future__ import annotations


def test_a_chunked_body_is_read_whole(master):
    def chunks():
        yield b'{"data": {"name": "Sent '
        yield b'in pieces"}}'

    resp = master.http.request(
        "PUT",
        f"{master.base}/accounts/{master.account_id}/menus",
        content=chunks(),
        headers={"X-Auth-Token": master.token, "Content-Type": "application/json"},
    )
    assert resp.status_code == 201, resp.text
    assert (
        master.get(f"accounts/{master.account_id}/menus/{resp.json()['data']['id']}").json()["data"]["name"]
        == "Sent in pieces"
    )


def test_a_method_outside_crossbar_gets_the_error_envelope(master):
    resp = master.http.request(
        "PROPFIND", f"{master.base}/accounts/{master.account_id}", headers={"X-Auth-Token": master.token}
    )
    assert resp.status_code == 405 and resp.headers["content-type"] == "application/json"
    assert resp.headers["access-control-allow-origin"] == "*"
    body = resp.json()
    assert body["status"] == "error" and body["message"] == "invalid_method"
    assert body["request_id"] == resp.headers["x-request-id"]


def test_the_first_of_repeated_headers_counts(master):
    resp = master.http.get(
        f"{master.base}/accounts/{master.account_id}",
        headers=[("X-Request-ID", "first-id"), ("X-Request-ID", "second-id"), ("X-Auth-Token", master.token)],
    )
    assert resp.status_code == 200 and resp.headers["x-request-id"] == "first-id"

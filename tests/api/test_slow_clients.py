"""Slow and greedy HTTP clients: a server limited to 256 open files, with a 2 s header timeout, a 1 s keep-alive
timeout and at most 20 connections per client address, still serves a request while 300 connections trickle their
headers in, cuts a header that does not finish, closes idle connections, and refuses a 21st connection from one
address while another address gets in. All over real sockets, from several 127.0.0.x source addresses."""

from __future__ import annotations

import socket

import httpx
import pytest

from tests.conftest import db_url, start_server, stop_server
from tests.helpers import read_until_closed

HEADER_TIMEOUT_S = 2
PER_ADDRESS = 20
PARTIAL = b"GET /v2/about HTTP/1.1\r\nHost: pbx\r\nX-Slow: "


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """(host, port) of a server that may open 256 files at most (soft and hard limit: it cannot raise them)."""
    data_dir = tmp_path_factory.mktemp("slowclients")
    env = {
        "CLOUDPBX_HTTP_HEADER_TIMEOUT": str(HEADER_TIMEOUT_S),
        "CLOUDPBX_HTTP_KEEPALIVE_TIMEOUT": "1",
        "CLOUDPBX_HTTP_MAX_PER_ADDRESS": str(PER_ADDRESS),
    }
    proc, base = start_server(data_dir, db_url(data_dir), extra_env=env, file_limit=256)
    try:
        yield httpx.URL(base).host, httpx.URL(base).port
    finally:
        stop_server(proc)


def connect(api: tuple[str, int], source: str) -> socket.socket:
    sock = socket.create_connection(api, timeout=10, source_address=(source, 0))
    return sock


def close_all(socks: list[socket.socket]) -> None:
    for sock in socks:
        sock.close()


def test_a_header_sent_a_byte_at_a_time_is_cut_with_408(api):
    with connect(api, "127.0.0.1") as sock:
        sock.sendall(PARTIAL)
        answer = read_until_closed(sock, trickle=b"x")
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert b"connection: close" in answer.lower() and b'"status":"error"' in answer


def test_a_connection_that_sends_nothing_is_closed_without_an_answer(api):
    with connect(api, "127.0.0.1") as sock:
        assert read_until_closed(sock) == b""


def test_stray_line_ends_do_not_keep_a_connection(api):
    with connect(api, "127.0.0.1") as sock:
        assert read_until_closed(sock, trickle=b"\r\n") == b""


def test_an_idle_keep_alive_connection_is_closed(api):
    with connect(api, "127.0.0.1") as sock:
        sock.sendall(b"GET /v2/about HTTP/1.1\r\nHost: pbx\r\n\r\n")
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 401 "), answer  # answered, then closed once idle, the answer kept whole
    assert answer.endswith(b"}")


def test_more_connections_than_open_files_still_leave_room_for_a_request(api):
    sources = [f"127.0.1.{n}" for n in range(1, 16)]  # 15 addresses x 20 = 300 slow clients, above the 256 files
    slow: list[socket.socket] = []
    try:
        for source in sources:
            for _ in range(PER_ADDRESS):
                sock = connect(api, source)
                sock.sendall(PARTIAL)
                slow.append(sock)
        answer = httpx.get(f"http://{api[0]}:{api[1]}/v2/about", timeout=10)
        assert answer.status_code == 401 and answer.json()["error"] == "401"
    finally:
        close_all(slow)


def test_one_address_gets_a_limited_number_of_connections(api):
    held = [connect(api, "127.0.0.5") for _ in range(PER_ADDRESS)]
    try:
        extra = connect(api, "127.0.0.5")
        answer = read_until_closed(extra)
        extra.close()
        assert answer.startswith(b"HTTP/1.1 503 ") and b"retry-after: 5" in answer.lower(), answer
        with connect(api, "127.0.0.6") as other:
            other.sendall(b"GET /v2/about HTTP/1.1\r\nHost: pbx\r\nConnection: close\r\n\r\n")
            assert read_until_closed(other).startswith(b"HTTP/1.1 401 ")
    finally:
        close_all(held)

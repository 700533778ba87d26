"""The test servers' output: a server that logs far more than a pipe holds keeps answering, and everything it
logged can be read back (`server_log`)."""

from __future__ import annotations

import httpx

from tests.conftest import db_url, server_log, start_server, stop_server

REFUSED = b'{"data": ' + b"[" * 100 + b"]" * 100 + b"}"  # each costs the server one warning line
PIPE_BYTES = 64 * 1024  # what a Linux pipe holds before its writer blocks


def test_a_server_logging_more_than_a_pipe_holds_keeps_answering(tmp_path):
    proc, base = start_server(tmp_path, db_url(tmp_path))
    try:
        with httpx.Client(timeout=30) as http:
            sent = 0
            while len(server_log(proc)) < 4 * PIPE_BYTES:
                for _ in range(100):
                    assert http.put(f"{base}/user_auth", content=REFUSED).status_code == 400
                sent += 100
                assert sent < 20_000, "the server stopped logging refused bodies"
    finally:
        stop_server(proc)
    assert server_log(proc).count("nested deeper than 64 levels") == sent

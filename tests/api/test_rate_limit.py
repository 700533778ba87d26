"""Token buckets per (client, account): a second server with a bucket of 5 refilled at 1/s throttles the 6th request."""

from __future__ import annotations

import time

import pytest

from tests.conftest import db_url, start_server, stop_server
from tests.helpers import ADMIN_PASSWORD, Client


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("ratelimited")
    proc, base = start_server(data_dir, db_url(data_dir), extra_env={"CLOUDPBX_RATE_LIMIT": "5/1"})
    try:
        client = Client(base)
        client.login("admin", ADMIN_PASSWORD, account_name="Master Account")
        yield client
    finally:
        stop_server(proc)


def burst(client: Client, path: str, count: int) -> list:
    return [client.get(path) for _ in range(count)]


def test_sixth_quick_request_is_429(limited):
    time.sleep(1.2)  # a full bucket, whatever ran before
    path = f"accounts/{limited.account_id}"
    responses = burst(limited, path, 6)
    assert [r.status_code for r in responses[:5]] == [200] * 5
    throttled = responses[5]
    assert throttled.status_code == 429
    assert throttled.headers["content-type"] == "application/json"
    body = throttled.json()
    assert body["status"] == "error" and body["error"] == "429" and body["message"] == "too_many_requests"
    assert body["request_id"] and "data" in body
    assert throttled.headers["retry-after"] == "1"  # one token comes back within a second at 1/s


def test_bucket_refills_with_time(limited):
    path = f"accounts/{limited.account_id}"
    burst(limited, path, 6)
    assert limited.get(path).status_code == 429
    time.sleep(1.1)
    assert limited.get(path).status_code == 200


def test_each_account_has_its_own_bucket(limited):
    time.sleep(1.2)
    sub = limited.create_account(limited.account_id)["id"]  # takes one token from the master's bucket
    time.sleep(1.2)
    own = burst(limited, f"accounts/{limited.account_id}", 6)
    assert own[-1].status_code == 429
    assert limited.get(f"accounts/{sub}").status_code == 200  # a different account, a different bucket


def test_logins_are_not_throttled_by_a_full_bucket(limited):
    burst(limited, f"accounts/{limited.account_id}", 6)
    again = Client(limited.base)
    again.login("admin", ADMIN_PASSWORD, account_name="Master Account")
    assert again.token

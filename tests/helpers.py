"""Test helpers: a small Crossbar client over httpx, and database reset for a clean session."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import socket
import time
from typing import Any

import httpx
from sqlalchemy import text

from cloudpbx.ids import GREGORIAN_OFFSET
from cloudpbx.store import create_engine
from tests.conformance import RECORDER

ADMIN_PASSWORD = "master-secret-1"
_names = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix} {next(_names)} {id(object()) % 100000}"


DAY = 86400
_job_days = itertools.count(30, 3)


def unused_job_period() -> int:
    """The start of a scheduler period (Gregorian seconds) 30 days or more from today, on a day no other test of the
    session has: a test's job runs (up to two days on from it) are periods nobody else ran. Two tests picking the
    same period would see "already run"."""
    start = time.time() + next(_job_days) * DAY
    return int(start - start % 900) + GREGORIAN_OFFSET


def credentials(username: str, password: str) -> str:
    return hashlib.md5(f"{username.lower()}:{password}".encode()).hexdigest()


class Client:
    """A logged-in (or anonymous) caller of the API."""

    def __init__(self, base: str, token: str | None = None):
        self.base = base
        self.token = token
        self.account_id: str | None = None
        self.owner_id: str | None = None
        self.http = httpx.Client(timeout=30)

    def request(
        self,
        method: str,
        path: str,
        data: Any = None,
        *,
        envelope: dict | None = None,
        headers: dict | None = None,
        **kwargs,
    ) -> httpx.Response:
        hdrs = {"X-Auth-Token": self.token} if self.token else {}
        hdrs.update(headers or {})
        body = envelope if envelope is not None else ({"data": data} if data is not None else None)
        response = self.http.request(method, f"{self.base}/{path.lstrip('/')}", json=body, headers=hdrs, **kwargs)
        RECORDER.record(self.base, response)
        return response

    def get(self, path: str, **kw) -> httpx.Response:
        return self.request("GET", path, **kw)

    def put(self, path: str, data: Any = None, **kw) -> httpx.Response:
        return self.request("PUT", path, data, **kw)

    def post(self, path: str, data: Any = None, **kw) -> httpx.Response:
        return self.request("POST", path, data, **kw)

    def patch(self, path: str, data: Any = None, **kw) -> httpx.Response:
        return self.request("PATCH", path, data, **kw)

    def delete(self, path: str, **kw) -> httpx.Response:
        return self.request("DELETE", path, **kw)

    def login(self, username: str, password: str, **locator: str) -> dict:
        anon = Client(self.base)
        resp = anon.put("user_auth", {"credentials": credentials(username, password), **locator})
        assert resp.status_code == 201, resp.text
        body = resp.json()
        self.token = body["auth_token"]
        self.account_id = body["data"]["account_id"]
        self.owner_id = body["data"].get("owner_id")
        return body

    # Building blocks for tests -----------------------------------------------------------------------------------

    def create_account(self, parent_id: str, name: str | None = None, **fields) -> dict:
        resp = self.put(f"accounts/{parent_id}", {"name": name or unique("Account"), **fields})
        assert resp.status_code == 201, resp.text
        return resp.json()["data"]

    def no_match_callflow(self, account_id: str) -> str:
        """The id of the `no_match` callflow (to offnet) every new account gets."""
        rows = self.get(f"accounts/{account_id}/callflows?filter_numbers=no_match").json()["data"]
        assert len(rows) == 1, rows
        return rows[0]["id"]

    def drop_no_match(self, account_id: str) -> None:
        """Delete an account's default `no_match` callflow, for tests of what the account's own callflows do."""
        resp = self.delete(f"accounts/{account_id}/callflows/{self.no_match_callflow(account_id)}")
        assert resp.status_code == 200, resp.text

    def create(self, account_id: str, noun: str, data: dict) -> dict:
        resp = self.put(f"accounts/{account_id}/{noun}", data)
        assert resp.status_code == 201, resp.text
        return resp.json()["data"]

    def admin_of(self, account_id: str, username: str = "admin", password: str = "pass-word-1") -> Client:
        """Create an admin user in the account and return a client logged in as that user."""
        self.create(
            account_id,
            "users",
            {"first_name": "Ad", "last_name": "Min", "username": username, "password": password, "priv_level": "admin"},
        )
        realm = self.get(f"accounts/{account_id}").json()["data"]["realm"]
        client = Client(self.base)
        client.login(username, password, account_realm=realm)
        return client


def read_until_closed(sock: socket.socket, trickle: bytes = b"", rounds: int = 60) -> bytes:
    """What the server sends before it closes the connection, sending `trickle` every 0.25 s meanwhile."""
    sock.settimeout(0.25)
    received = b""
    for _ in range(rounds):  # 15 s at most
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            with contextlib.suppress(OSError):
                sock.sendall(trickle)
            continue
        except ConnectionResetError:
            return received
        if not chunk:
            return received
        received += chunk
    raise AssertionError(f"the server kept the connection open; it sent {received!r}")


def reset_database(url: str) -> None:
    """Drop every table so the session starts from an empty database (PostgreSQL runs reuse one database)."""
    if url.startswith("sqlite"):
        return
    from sqlalchemy import text

    from cloudpbx.store.database import create_engine

    async def run() -> None:
        engine = create_engine(url)
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        await engine.dispose()

    asyncio.run(run())


def sql(server, query: str, **params) -> list:
    """Rows straight from a served platform's database, to see what is really stored."""

    async def run() -> list:
        engine = create_engine(server[2])
        try:
            async with engine.connect() as conn:
                return list(await conn.execute(text(query), params))
        finally:
            await engine.dispose()

    return asyncio.run(run())

"""Channels and registrations: live state the SIP side keeps in memory and the API lists and flushes.

Until the SIP side exists nothing fills that state in the served platform, so the populated cases run the same
app in-process over a real store and fill the state the way the registrar and call engine will.
"""

from __future__ import annotations

import time
from types import SimpleNamespace

import httpx
import pytest

from cloudpbx.api.app import create_app
from cloudpbx.cli.bootstrap import ensure_master
from cloudpbx.config import Settings
from cloudpbx.platform import Platform
from cloudpbx.state.channels import Channel
from cloudpbx.state.registrations import Registration
from tests.helpers import credentials, unique

PASSWORD = "live-secret-1"


class Api:
    """A logged-in caller of the in-process app."""

    def __init__(self, http: httpx.AsyncClient, token: str):
        self.http, self.token = http, token

    async def call(self, method: str, path: str, data=None) -> httpx.Response:
        body = {"data": data} if data is not None else None
        return await self.http.request(method, path, json=body, headers={"X-Auth-Token": self.token})

    async def create(self, path: str, data: dict) -> dict:
        resp = await self.call("PUT", path, data)
        assert resp.status_code == 201, resp.text
        return resp.json()["data"]


@pytest.fixture()
async def live(tmp_path):
    """master → parent P → kid K, and Q beside P; the platform object is the one the app serves."""
    platform = await Platform.open(Settings(data_dir=tmp_path, db_url=f"sqlite:///{tmp_path / 'live.db'}"))
    await ensure_master(platform, PASSWORD)
    transport = httpx.ASGITransport(app=create_app(platform))
    async with httpx.AsyncClient(transport=transport, base_url="http://cloudpbx.test/v2") as http:
        login = await http.put(
            "user_auth",
            json={"data": {"credentials": credentials("admin", PASSWORD), "account_name": "Master Account"}},
        )
        master = Api(http, login.json()["auth_token"])
        master_id = login.json()["data"]["account_id"]
        p = await master.create(f"accounts/{master_id}", {"name": unique("Parent P")})
        k = await master.create(f"accounts/{p['id']}", {"name": unique("Kid K")})
        q = await master.create(f"accounts/{master_id}", {"name": unique("Other Q")})
        yield SimpleNamespace(platform=platform, master=master, p=p["id"], k=k["id"], q=q["id"])
    await platform.close()


def register(platform: Platform, account_id: str, username: str, expires_in: float = 300) -> None:
    platform.registrations.add(
        Registration(
            account_id=account_id,
            device_id=f"dev-{username}",
            username=username,
            realm="example.test",
            contact=f"sip:{username}@192.0.2.10:5060",
            source="192.0.2.10:5060",
            user_agent="Test Phone",
            expires_at=time.time() + expires_in,
        )
    )


async def test_registrations_are_listed_counted_and_flushed(live):
    master, k = live.master, live.k
    for username in ("alice", "bob"):
        register(live.platform, k, username)
        await master.create(
            f"accounts/{k}/devices", {"name": username, "sip": {"username": username, "password": "secret-pw-1"}}
        )
    register(live.platform, k, "gone", expires_in=-1)
    register(live.platform, live.q, "quentin")
    listed = (await master.call("GET", f"accounts/{k}/registrations")).json()["data"]
    assert sorted(r["username"] for r in listed) == ["alice", "bob"]
    assert listed[0]["contact"].startswith("sip:") and 0 < listed[0]["expires"] <= 300
    assert (await master.call("GET", f"accounts/{k}/registrations/count")).json()["data"] == {"count": 2}

    flushed = await master.call("DELETE", f"accounts/{k}/registrations/alice")
    assert flushed.status_code == 200 and flushed.json()["data"] == "ok"
    assert [r["username"] for r in (await master.call("GET", f"accounts/{k}/registrations")).json()["data"]] == ["bob"]
    unknown = await master.call("DELETE", f"accounts/{k}/registrations/quentin")
    assert unknown.status_code == 404, "a SIP username of another account"
    assert (await master.call("DELETE", f"accounts/{k}/registrations")).json()["data"] == "ok"
    assert (await master.call("GET", f"accounts/{k}/registrations/count")).json()["data"] == {"count": 0}
    assert len(live.platform.registrations.list(live.q)) == 1, "other accounts keep theirs"


async def test_channels_of_an_account_include_its_descendants(live):
    channels = live.platform.channels
    for uuid, account_id, direction in (
        ("call-k", live.k, "inbound"),
        ("call-p", live.p, "outbound"),
        ("call-q", live.q, "inbound"),
    ):
        channels.add(
            Channel(
                uuid=uuid,
                account_id=account_id,
                direction=direction,
                caller_id_number="+15550100",
                destination="+15550199",
                answered=True,
            )
        )
    master = live.master

    async def uuids(path: str) -> list[str]:
        resp = await master.call("GET", path)
        assert resp.status_code == 200, resp.text
        return [c["uuid"] for c in resp.json()["data"]]

    assert await uuids(f"accounts/{live.p}/channels") == ["call-k", "call-p"]
    assert await uuids(f"accounts/{live.k}/channels") == ["call-k"]
    assert await uuids(f"accounts/{live.p}/channels?filter_direction=outbound") == ["call-p"]
    one = (await master.call("GET", f"accounts/{live.p}/channels/call-k")).json()["data"]
    assert one["account_id"] == live.k and one["answered"] is True
    assert (await master.call("GET", f"accounts/{live.k}/channels/call-p")).status_code == 404
    assert (await master.call("GET", f"accounts/{live.k}/channels/call-q")).status_code == 404
    channels.remove("call-k")
    assert await uuids(f"accounts/{live.p}/channels") == ["call-p"]


@pytest.fixture(scope="module")
def served(master):
    a = master.create_account(master.account_id, unique("Live A"))
    b = master.create_account(master.account_id, unique("Live B"))
    return SimpleNamespace(a=a, b=b, a_admin=master.admin_of(a["id"]), b_admin=master.admin_of(b["id"]))


def test_the_served_platform_has_no_live_state_yet(served):
    base, admin = f"accounts/{served.a['id']}", served.a_admin
    assert admin.get(f"{base}/channels?paginate=false").json()["data"] == []
    assert admin.get(f"{base}/channels/{'c' * 32}").status_code == 404
    assert admin.get(f"{base}/registrations").json()["data"] == []
    assert admin.get(f"{base}/registrations/count").json()["data"] == {"count": 0}
    assert admin.delete(f"{base}/registrations").json()["data"] == "ok"
    missing = admin.delete(f"{base}/registrations/nobody")
    assert missing.status_code == 404 and missing.json()["message"] == "bad_identifier"
    assert admin.put(f"{base}/channels", {}).status_code == 405
    assert admin.post(f"{base}/registrations/count", {}).status_code == 405


def test_a_sibling_cannot_see_or_flush_live_state(served):
    base = f"accounts/{served.a['id']}"
    for resp in (
        served.b_admin.get(f"{base}/channels"),
        served.b_admin.get(f"{base}/channels/{'c' * 32}"),
        served.b_admin.get(f"{base}/registrations"),
        served.b_admin.get(f"{base}/registrations/count"),
        served.b_admin.delete(f"{base}/registrations"),
        served.b_admin.delete(f"{base}/registrations/someone"),
    ):
        assert resp.status_code == 403, resp.text

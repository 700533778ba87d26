"""docs/getting-started.md works as written: its `sh` blocks run in order in one bash against a fresh server (only
the API address and the printed password replaced), each answer carries the ids it should, and two pjsua2 phones
configured exactly as the page says (realm as SIP domain, the server as outbound proxy) register and call 1001."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import db_url, free_sip_port, start_server, stop_server
from tests.helpers import ADMIN_PASSWORD, Client
from tests.sip.phones import phones  # noqa: F401 - a fixture

DOC = Path(__file__).resolve().parents[1] / "docs" / "getting-started.md"
ID = re.compile(r"^[0-9a-f]{32}$")
SHOWN = ("API", "TOKEN", "MASTER_ID", "ACCOUNT_ID", "REALM", "USER_ID", "ALICE_PHONE", "LOBBY_PHONE", "CALLFLOW_ID")


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """(api base, SIP host:port) of a server of its own."""
    data_dir = tmp_path_factory.mktemp("getting-started")
    sip_port = free_sip_port()
    proc, base = start_server(data_dir, db_url(data_dir), sip_port=sip_port)
    try:
        yield base, f"127.0.0.1:{sip_port}"
    finally:
        stop_server(proc)


def shell_blocks() -> list[str]:
    blocks = re.findall(r"^```sh\n(.*?)^```", DOC.read_text(), re.S | re.M)
    assert len(blocks) >= 8, "the page's runnable steps"
    return blocks


def run(script: str) -> str:
    done = subprocess.run(["bash", "-c", "set -euo pipefail\n" + script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_walk_through_runs_as_written(fresh, phones):
    base, sip_server = fresh
    blocks = shell_blocks()
    first = blocks[0]
    assert "API=http://127.0.0.1:8000/v2" in first and "PASSWORD='the-password-serve-printed'" in first
    blocks[0] = first.replace("http://127.0.0.1:8000/v2", base).replace("the-password-serve-printed", ADMIN_PASSWORD)
    setup, last = "\n".join(blocks[:-1]), blocks[-1]
    output = run(setup + "\necho ==\ndeclare -p " + " ".join(SHOWN) + "\ndeclare -f api")
    printed, state = output.split("==\n", 1)
    values = dict(re.findall(r'^declare -- (\w+)="(.*)"$', state, re.M))
    for name in ("MASTER_ID", "ACCOUNT_ID", "USER_ID", "ALICE_PHONE", "LOBBY_PHONE", "CALLFLOW_ID"):
        assert ID.match(values[name]), (name, values[name])
    assert f"account {values['ACCOUNT_ID']}, SIP domain {values['REALM']}" in printed
    assert "+14155550100" in printed.splitlines(), "the number was added"
    assert sorted(printed.splitlines()[-2:]) == ["Alice desk", "Lobby"], "two pages of one device each (id order)"

    client = Client(base, values["TOKEN"])
    account = values["ACCOUNT_ID"]
    device = client.get(f"accounts/{account}/devices/{values['ALICE_PHONE']}").json()["data"]
    assert device["owner_id"] == values["USER_ID"] and device["sip"]["username"] == "alice-desk"
    callflow = client.get(f"accounts/{account}/callflows/{values['CALLFLOW_ID']}").json()["data"]
    assert callflow["numbers"] == ["1001", "+14155550100"]

    alice, lobby = phones("alice"), phones("lobby")  # as the table says: realm, device credentials, outbound proxy
    assert alice.register(sip_server, values["REALM"], "alice-desk", "Desk-secret-1") == 200
    assert lobby.register(sip_server, values["REALM"], "lobby", "Lobby-secret-1") == 200
    listed = run(state + last)  # the last block, in the same shell state: both phones are listed
    assert {"alice-desk", "lobby"} <= set(listed.split()), listed

    out = lobby.call("1001")
    alice.wait_incoming().answer()
    out.wait("CONFIRMED")
    lobby.hangup()
    out.wait("DISCONNECTED")

"""One tenant's callflow pattern cannot stall the platform: patterns run in linear time (RE2).

Reproduces the probe: an account admin saves the pattern `^(\\d+)+$`, and a phone of that account dials 28 ones
followed by "a". With a backtracking engine that search takes seconds (four times longer for every two more
digits) while the whole process, API and SIP of every tenant, waits. Now the INVITE is answered 404 within the
receive window every SIP test uses, and another tenant's API request sent while it is outstanding is answered too.
"""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

from tests.helpers import Client, unique
from tests.sip.uac import SipSocket, authorization, challenges

STALLING = "^(\\d+)+$"
PROBE = "1" * 28 + "a"


@pytest.fixture(scope="module")
def office(master, server):
    account = master.create_account(master.account_id, unique("Redos"))
    username, password = f"redos{secrets.token_hex(3)}", f"pw-{secrets.token_hex(6)}"
    master.create(account["id"], "devices", {"name": "desk", "sip": {"username": username, "password": password}})
    master.create(
        account["id"], "callflows", {"patterns": [STALLING], "flow": {"module": "response", "data": {"code": 486}}}
    )
    return SimpleNamespace(
        id=account["id"], realm=account["realm"], port=server.sip_port, username=username, password=password
    )


@pytest.fixture(scope="module")
def neighbour(master, server):
    """Another tenant: its own admin, logged in, and a device of its own to read."""
    account = master.create_account(master.account_id, unique("Neighbour"))
    password = f"pw-{secrets.token_hex(6)}"
    master.create(
        account["id"],
        "users",
        {"first_name": "Nina", "last_name": "Next", "username": "nina", "password": password, "priv_level": "admin"},
    )
    client = Client(server[0])
    client.login("nina", password, account_name=account["name"])
    device = client.create(account["id"], "devices", {"name": "next door"})
    return SimpleNamespace(client=client, id=account["id"], device=device["id"])


class Caller:
    """A bare UAC of the office's device: INVITEs answered to the 407 with its credentials."""

    def __init__(self, office):
        self.office, self.sip = office, SipSocket(office.port)
        self.call_id, self.tag = f"{secrets.token_hex(8)}@test", secrets.token_hex(4)

    def _request(
        self, method: str, uri: str, cseq: int, branch: str, extra: tuple[str, ...] = (), to_tag: str = ""
    ) -> bytes:
        host, port = self.sip.address
        office = self.office
        lines = [
            f"{method} {uri} SIP/2.0",
            f"Via: SIP/2.0/UDP {host}:{port};branch={branch};rport",
            "Max-Forwards: 70",
            f"From: <sip:{office.username}@{office.realm}>;tag={self.tag}",
            f"To: <{uri}>" + (f";tag={to_tag}" if to_tag else ""),
            f"Call-ID: {self.call_id}",
            f"CSeq: {cseq} {method}",
            f"Contact: <sip:{office.username}@{host}:{port}>",
            *extra,
            "Content-Length: 0",
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def invite(self, number: str) -> None:
        """Send the authenticated INVITE to `number` and return without waiting for its answer."""
        uri, first = f"sip:{number}@{self.office.realm}", f"z9hG4bK{secrets.token_hex(6)}"
        self.sip.send(self._request("INVITE", uri, 1, first))
        challenge = self.sip.final()
        assert challenge is not None and challenge.status == 407, challenge
        self.sip.send(self._request("ACK", uri, 1, first, to_tag=challenge.to.tag))
        answer = authorization(
            challenges(challenge, "Proxy-Authenticate")["MD5"],
            "INVITE",
            uri,
            self.office.username,
            self.office.password,
        )
        self.uri, self.branch = uri, f"z9hG4bK{secrets.token_hex(6)}"
        self.sip.send(self._request("INVITE", uri, 2, self.branch, (f"Proxy-Authorization: {answer}",)))

    def final(self) -> int | None:
        """The final status of the outstanding INVITE (acknowledged), or None when none came."""
        final = self.sip.final()
        if final is None:
            return None
        self.sip.send(self._request("ACK", self.uri, 2, self.branch, to_tag=final.to.tag))
        return final.status

    def close(self) -> None:
        self.sip.close()


def test_a_backtracking_pattern_answers_404_and_other_tenants_go_on(office, neighbour):
    caller = Caller(office)
    try:
        caller.invite(PROBE)
        with ThreadPoolExecutor(1) as pool:  # the other tenant asks while the INVITE is outstanding
            seen = pool.submit(neighbour.client.get, f"accounts/{neighbour.id}/devices/{neighbour.device}")
            assert caller.final() == 404
            assert seen.result().status_code == 200 and seen.result().json()["data"]["name"] == "next door"
    finally:
        caller.close()


def test_the_pattern_still_routes_what_it_matches(office):
    caller = Caller(office)
    try:
        caller.invite("1" * 28)
        assert caller.final() == 486  # the callflow's response action
    finally:
        caller.close()

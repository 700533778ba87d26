"""Calls in from carriers: SIPp (or a raw UAC) sends from a carrier gateway's own 127.0.77.x address, without
credentials; the number it dials picks the account, whose callflow rings a pjsua2 phone. Unknown sources, numbers
off the platform, another account's carrier and a disabled carrier are refused; trunk limits of the account and of
its reseller refuse the calls beyond them with a tone and 486, and the trunks come back when calls end."""

from __future__ import annotations

import itertools
import random
import secrets
import socket
from types import SimpleNamespace

import pytest

from cloudpbx.media import rtp
from cloudpbx.media.tones import detect_tone_in_frames
from tests.conftest import free_sip_port, start_server, stop_server
from tests.helpers import unique
from tests.sip.phones import phones, pump, wait_until  # noqa: F401 - phones is a fixture
from tests.sip.sipp import Sipp, free_port
from tests.sip.uac import SipSocket
from tests.telephony.test_calls import header, new_device, registered, ring_device

_gateways = itertools.count(1)


def gateway_address() -> str:
    """A loopback address of its own for each carrier gateway of this module."""
    return f"127.0.77.{next(_gateways)}"


def new_number() -> str:
    return f"+1415{random.randint(2000000, 9999999)}"


@pytest.fixture
def cleanup(master):
    created: list[str] = []
    yield created
    for path in created:
        master.delete(path)


@pytest.fixture
def world(master, server, cleanup):
    """An account with trunks, a phone device, and a global carrier at its own gateway address."""
    account = master.create_account(master.account_id, unique("Carrier calls"))
    set_limits(master, account["id"], inbound_trunks=2, twoway_trunks=2)
    address = gateway_address()
    carrier = add_carrier(master, cleanup, "resources", address)
    return SimpleNamespace(
        id=account["id"],
        realm=account["realm"],
        server=f"127.0.0.1:{server.sip_port}",
        port=server.sip_port,
        gateway=address,
        carrier=carrier,
    )


def set_limits(master, account_id: str, **counts: int) -> None:
    resp = master.post(f"accounts/{account_id}/limits", {**counts, "allow_prepay": False})
    assert resp.status_code == 200, resp.text


def add_carrier(master, cleanup, base: str, address: str, **fields) -> str:
    doc = {"name": unique("Carrier"), "rules": [r"^\+1(\d{10})$"], "gateways": [{"server": address}], **fields}
    resp = master.put(base, doc)
    assert resp.status_code == 201, resp.text
    path = f"{base}/{resp.json()['data']['id']}"
    cleanup.append(path)
    return resp.json()["data"]["id"]


def add_number(master, account_id: str, number: str | None = None, **features) -> str:
    number = number or new_number()
    resp = master.put(f"accounts/{account_id}/phone_numbers/{number}", features)
    assert resp.status_code == 201, resp.text
    return number


def route(master, account_id: str, number: str, flow: dict) -> None:
    resp = master.put(f"accounts/{account_id}/callflows", {"numbers": [number], "flow": flow})
    assert resp.status_code == 201, resp.text


def answer_with(code: int) -> dict:
    return {"module": "response", "data": {"code": code}}


def carrier_invite(port: int, source: str, number: str, *, offer: bytes = b"", source_port: int = 0):
    """One INVITE from `source` to `number` with no credentials; every response until the final one, ACKed."""
    sip = SipSocket(port, bind=source, bind_port=source_port)
    host, sip_port = sip.address
    branch, tag, call_id = f"z9hG4bK{secrets.token_hex(6)}", secrets.token_hex(4), f"{secrets.token_hex(8)}@carrier"
    uri = f"sip:{number}@127.0.0.1:{port}"

    def request(method: str, to_tag: str = "", content: bytes = b"") -> bytes:
        lines = [
            f"{method} {uri} SIP/2.0",
            f"Via: SIP/2.0/UDP {host}:{sip_port};branch={branch};rport",
            "Max-Forwards: 70",
            f'From: "Carrier" <sip:+12125550100@{host}>;tag={tag}',
            f"To: <{uri}>" + (f";tag={to_tag}" if to_tag else ""),
            f"Call-ID: {call_id}",
            f"CSeq: 1 {method}",
            f"Contact: <sip:gw@{host}:{sip_port}>",
            *(["Content-Type: application/sdp"] if content else []),
            f"Content-Length: {len(content)}",
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + content

    try:
        sip.send(request("INVITE", content=offer))
        responses = []
        while not responses or responses[-1].status < 200:
            message = sip.receive(10.0)
            assert message is not None, f"no final response to the INVITE, got {responses}"
            responses.append(message)
        sip.send(request("ACK", to_tag=responses[-1].to.tag or ""))
        return responses
    finally:
        sip.close()


def carrier_calls(world, number: str, *, calls: int = 1, **keys) -> Sipp:
    """SIPp as the carrier's gateway, placing `calls` calls to `number` at once."""
    return Sipp(
        "carrier_call.xml",
        remote=world.server,
        host=world.gateway,
        service=number,
        calls=calls,
        rate=100,
        keys={"caller": "+12125550100", "caller_name": "Carrier Caller", "asserted": "+12125550100", **keys},
        extra=("-l", str(calls)),
        tick=pump,
    )


def inbound_legs(master, account_id: str) -> list[dict]:
    """The account's inbound CDR legs written so far."""
    rows = master.get(f"accounts/{account_id}/cdrs").json()["data"]
    return [row for row in rows if row["direction"] == "inbound"]


def refused_legs(master, account_id: str) -> list[dict]:
    return [leg for leg in inbound_legs(master, account_id) if leg["hangup_cause"] == "USER_BUSY"]


def cdr_legs(master, account_id: str, count: int) -> list[dict]:
    """The account's inbound CDR legs, once `count` of them are written."""
    wait_until(lambda: len(inbound_legs(master, account_id)) >= count, 10.0, f"{count} inbound CDR legs")
    return inbound_legs(master, account_id)


def cdr(master, account_id: str, cdr_id: str) -> dict:
    resp = master.get(f"accounts/{account_id}/cdrs/{cdr_id}")
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]


def answered(master, account_id: str) -> int:
    """How many carrier calls of the account the platform has answered (their caller legs are up)."""
    live = master.get(f"accounts/{account_id}/channels").json()["data"]
    return sum(1 for channel in live if channel["direction"] == "inbound" and channel["answered"])


def usage(master, account_id: str) -> dict:
    return master.get(f"accounts/{account_id}/limits/usage").json()["data"]


def test_a_carrier_call_reaches_the_number_through_the_accounts_callflow(phones, world, master):
    device = new_device(master, world, "did")
    number = add_number(master, world.id)
    route(master, world.id, number, ring_device(device))
    phone = registered(phones, world, device)

    with carrier_calls(world, number[1:], asserted="+14155550123") as carrier:  # dialled as 1NPA...
        incoming = phone.wait_incoming(10.0)
        sender = header(incoming.invite, "from", "f")
        assert '"Carrier Caller"' in sender, "the From's name"
        assert "sip:+14155550123@" in sender, "the P-Asserted-Identity's number"
        incoming.answer()
        wait_until(lambda: answered(master, world.id) == 1, 5.0, "the carrier's call answered")
        assert usage(master, world.id)["inbound"] == 1
        incoming.hangup()
        wait_until(lambda: carrier.proc.poll() is not None, 10.0, "the carrier's call to end")
    assert carrier.result().ok, carrier.result().describe()
    wait_until(lambda: usage(master, world.id)["calls"] == 0, 5.0, "the trunks given back")

    (leg,) = cdr_legs(master, world.id, 1)
    stored = cdr(master, world.id, leg["id"])
    assert stored["custom_channel_vars"]["e164_destination"] == number, "1NPA normalised to E.164"
    assert stored["caller_id_number"] == "+14155550123"
    assert stored["custom_channel_vars"]["resource_id"] == world.carrier
    assert stored["custom_channel_vars"]["authorizing_type"] == "resource"
    assert stored["custom_channel_vars"]["account_billing"] == "flat_rate"
    assert stored["custom_channel_vars"]["account_id"] == world.id


def test_the_numbers_cnam_and_prepend_features_name_the_caller(phones, world, master):
    elsewhere = master.create_account(master.account_id, unique("Caller's company"))
    caller = add_number(master, elsewhere["id"], cnam={"display_name": "Acme Sales"})
    device = new_device(master, world, "cnam")
    number = add_number(master, world.id, cnam={"inbound_lookup": True}, prepend={"enabled": True, "name": "VIP "})
    route(master, world.id, number, ring_device(device))
    phone = registered(phones, world, device)

    with carrier_calls(world, number, caller=caller, asserted=caller) as carrier:
        incoming = phone.wait_incoming(10.0)
        sender = header(incoming.invite, "from", "f")
        assert '"VIP Acme Sales"' in sender and f"sip:{caller}@" in sender
        incoming.answer()
        wait_until(lambda: answered(master, world.id) == 1, 5.0, "the carrier's call answered")
        incoming.hangup()
        wait_until(lambda: carrier.proc.poll() is not None, 10.0, "the carrier's call to end")
    assert carrier.result().ok, carrier.result().describe()


def test_an_unknown_source_gets_403_and_no_challenge(world, master):
    number = add_number(master, world.id)
    route(master, world.id, number, answer_with(480))
    responses = carrier_invite(world.port, gateway_address(), number)
    assert responses[-1].status == 403
    assert not any(r.get("proxy-authenticate") or r.get("www-authenticate") for r in responses)


def test_numbers_not_in_service_on_the_platform_get_404(world, master):
    assert carrier_invite(world.port, world.gateway, new_number())[-1].status == 404
    reserved = add_number(master, world.id, create_with_state="reserved")
    assert carrier_invite(world.port, world.gateway, reserved)[-1].status == 404
    number = add_number(master, world.id)
    route(master, world.id, number, answer_with(480))
    assert carrier_invite(world.port, world.gateway, number)[-1].status == 480, "in service: the callflow answers"


def test_an_accounts_own_carrier_reaches_only_its_own_and_its_sub_accounts_numbers(world, master, cleanup):
    other = master.create_account(master.account_id, unique("Other"))
    below = master.create_account(world.id, unique("Below"))
    for account in (other, below):
        set_limits(master, account["id"], inbound_trunks=2)
    address = gateway_address()
    add_carrier(master, cleanup, f"accounts/{world.id}/resources", address)
    own, theirs, sub = add_number(master, world.id), add_number(master, other["id"]), add_number(master, below["id"])
    for account_id, number, code in ((world.id, own, 480), (other["id"], theirs, 480), (below["id"], sub, 410)):
        route(master, account_id, number, answer_with(code))
    assert carrier_invite(world.port, address, own)[-1].status == 480
    assert carrier_invite(world.port, address, sub)[-1].status == 410, "a sub-account's number is reached"
    assert carrier_invite(world.port, address, theirs)[-1].status == 403, "another account's number is not"


def test_a_disabled_carrier_is_refused_at_the_next_call(world, master):
    number = add_number(master, world.id)
    route(master, world.id, number, answer_with(480))
    assert carrier_invite(world.port, world.gateway, number)[-1].status == 480
    assert master.patch(f"resources/{world.carrier}", {"enabled": False}).status_code == 200
    assert carrier_invite(world.port, world.gateway, number)[-1].status == 403
    assert master.patch(f"resources/{world.carrier}", {"enabled": True}).status_code == 200
    assert carrier_invite(world.port, world.gateway, number)[-1].status == 480
    gateway_off = {"gateways": [{"server": world.gateway, "enabled": False}]}
    assert master.patch(f"resources/{world.carrier}", gateway_off).status_code == 200
    assert carrier_invite(world.port, world.gateway, number)[-1].status == 403, "a disabled gateway is no carrier's"


def test_a_gateway_named_by_host_name_and_port_is_recognised_from_that_port_only(world, master, cleanup):
    port = free_port(host="127.0.0.1")
    add_carrier(master, cleanup, "resources", "localhost", gateways=[{"server": "localhost", "port": port}])
    number = add_number(master, world.id)
    route(master, world.id, number, answer_with(480))
    assert carrier_invite(world.port, "127.0.0.1", number, source_port=port)[-1].status == 480
    assert carrier_invite(world.port, "127.0.0.1", number)[-1].status == 403, "another port of that host is no gateway"


def test_a_call_over_the_trunk_limit_hears_a_tone_then_486(world, master):
    set_limits(master, world.id, inbound_trunks=0, twoway_trunks=0)
    number = add_number(master, world.id)
    route(master, world.id, number, answer_with(480))
    media = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    media.bind((world.gateway, 0))
    media.settimeout(5.0)
    offer = (
        f"v=0\r\no=- 1 1 IN IP4 {world.gateway}\r\ns=-\r\nc=IN IP4 {world.gateway}\r\nt=0 0\r\n"
        f"m=audio {media.getsockname()[1]} RTP/AVP 8 0\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n"
    ).encode()
    try:
        responses = carrier_invite(world.port, world.gateway, number, offer=offer)
        payloads = []
        while len(payloads) < 25:
            packet = media.recv(2048)
            payloads.append(rtp.RtpHeader.parse(packet).payload(packet))
    finally:
        media.close()
    assert [r.status for r in responses if r.status > 100] == [183, 486]
    assert b"PCMA" in next(r for r in responses if r.status == 183).body
    assert detect_tone_in_frames(payloads, [350, 440, 480, 620], codec="PCMA") == 480
    (leg,) = cdr_legs(master, world.id, 1)
    stored = cdr(master, world.id, leg["id"])
    assert stored["hangup_cause"] == "USER_BUSY"
    assert stored["custom_channel_vars"]["account_billing"] == "trunks_exhausted"


def test_twenty_calls_on_four_trunks_answer_four_and_refuse_sixteen(phones, world, master):
    device = new_device(master, world, "trunks")
    number = add_number(master, world.id)
    route(master, world.id, number, ring_device(device, timeout=30))
    phone = registered(phones, world, device)

    with carrier_calls(world, number, calls=20) as carrier:
        settled = lambda: len(phone.ringing) == 4 and len(refused_legs(master, world.id)) == 16  # noqa: E731
        wait_until(settled, 30.0, "4 calls ringing, 16 refused")
        in_use = usage(master, world.id)
        assert (in_use["inbound"], in_use["twoway"], in_use["calls"]) == (2, 2, 4)
        for call in list(phone.ringing):
            call.answer()
        wait_until(lambda: answered(master, world.id) == 4, 10.0, "the four carrier calls answered")
        for call in list(phone.calls):
            call.hangup()
        wait_until(lambda: carrier.proc.poll() is not None, 20.0, "every carrier call to end")
    result = carrier.result()
    assert (result.successful, result.failed) == (20, 0), result.describe()
    assert len(phone.calls) == 4, "no fifth call reached the phone"
    wait_until(lambda: usage(master, world.id)["calls"] == 0, 5.0, "the trunks given back")
    billing = sorted(
        cdr(master, world.id, leg["id"])["custom_channel_vars"]["account_billing"]
        for leg in refused_legs(master, world.id)
    )
    assert billing == ["trunks_exhausted"] * 16


def test_a_resellers_trunk_limit_binds_its_sub_accounts_inbound_calls(phones, world, master):
    reseller = master.create_account(master.account_id, unique("Reseller"))
    assert master.put(f"accounts/{reseller['id']}/reseller").status_code == 200
    set_limits(master, reseller["id"], inbound_trunks=1)
    customer = master.create_account(reseller["id"], unique("Customer"))
    set_limits(master, customer["id"], inbound_trunks=5)
    office = SimpleNamespace(id=customer["id"], realm=customer["realm"], server=world.server)
    device = new_device(master, office, "sub")
    number = add_number(master, customer["id"])
    route(master, customer["id"], number, ring_device(device, timeout=30))
    phone = registered(phones, office, device)

    with carrier_calls(world, number, calls=2) as carrier:
        wait_until(
            lambda: len(phone.ringing) == 1 and cdr_legs(master, customer["id"], 1), 20.0, "one ringing, one refused"
        )
        assert usage(master, reseller["id"])["inbound"] == 1, "the reseller counts its customer's call"
        phone.ringing[0].answer()
        wait_until(lambda: answered(master, customer["id"]) == 1, 5.0, "the carrier's call answered")
        phone.hangup()
        wait_until(lambda: carrier.proc.poll() is not None, 20.0, "both carrier calls to end")
    assert (carrier.result().successful, carrier.result().failed) == (2, 0), carrier.result().describe()
    (busy,) = [leg for leg in cdr_legs(master, customer["id"], 2) if leg["hangup_cause"] == "USER_BUSY"]
    refused = cdr(master, customer["id"], busy["id"])["custom_channel_vars"]
    assert (refused["account_billing"], refused["reseller_billing"]) == ("flat_rate", "trunks_exhausted")
    gone = lambda: usage(master, reseller["id"])["calls"] == usage(master, customer["id"])["calls"] == 0  # noqa: E731
    wait_until(gone, 5.0, "the trunks given back to both accounts")


def test_every_process_on_the_database_stops_recognising_a_disabled_carrier(world, master, server):
    sip_port = free_sip_port()
    second, _ = start_server(server[1], server[2], sip_port=sip_port)  # another process on the same database
    try:
        number = add_number(master, world.id)
        route(master, world.id, number, answer_with(480))
        assert carrier_invite(sip_port, world.gateway, number)[-1].status == 480, "the other process knows it"
        assert master.patch(f"resources/{world.carrier}", {"enabled": False}).status_code == 200
        assert carrier_invite(sip_port, world.gateway, number)[-1].status == 403
        assert carrier_invite(world.port, world.gateway, number)[-1].status == 403
    finally:
        stop_server(second)


def test_a_disabled_account_or_one_below_a_disabled_account_refuses_carrier_calls(world, master):
    below = master.create_account(world.id, unique("Below"))
    set_limits(master, below["id"], inbound_trunks=2)
    number = add_number(master, below["id"])
    route(master, below["id"], number, answer_with(480))
    assert carrier_invite(world.port, world.gateway, number)[-1].status == 480
    assert master.patch(f"accounts/{world.id}", {"enabled": False}).status_code == 200
    assert carrier_invite(world.port, world.gateway, number)[-1].status == 403, "its parent is disabled"
    assert master.patch(f"accounts/{world.id}", {"enabled": True}).status_code == 200
    assert master.patch(f"accounts/{below['id']}", {"enabled": False}).status_code == 200
    assert carrier_invite(world.port, world.gateway, number)[-1].status == 403, "it is disabled itself"

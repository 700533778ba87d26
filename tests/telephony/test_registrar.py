"""The registrar of the served platform: devices made through the API register over real UDP/TCP sockets and
with SIPp; the API then lists what the registrar holds."""

from __future__ import annotations

import secrets
import time
from types import SimpleNamespace

import pytest

from tests.conftest import free_sip_port, start_server, stop_server
from tests.helpers import unique
from tests.sip.sipp import Sipp
from tests.sip.uac import Registrant, authorization, challenges, contact_expiries, spare_loopback


@pytest.fixture(scope="module")
def office(master, server):
    account = master.create_account(master.account_id, unique("Registrar"))
    return SimpleNamespace(id=account["id"], realm=account["realm"], port=server.sip_port)


def new_device(master, account_id: str, sip: dict | None = None, **fields) -> SimpleNamespace:
    username, password = f"u{secrets.token_hex(4)}", f"pw-{secrets.token_hex(6)}"
    device = master.create(
        account_id,
        "devices",
        {"name": username, "sip": {"username": username, "password": password, **(sip or {})}, **fields},
    )
    return SimpleNamespace(id=device["id"], username=username, password=password)


def registrations(master, account_id: str) -> list[dict]:
    resp = master.get(f"accounts/{account_id}/registrations")
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]


def phone(office, device, **kwargs) -> Registrant:
    return Registrant(office.port, office.realm, device.username, device.password, **kwargs)


def test_right_password_registers_and_the_api_shows_it(master, office):
    device, other = new_device(master, office.id), new_device(master, office.id)
    ua = phone(office, device)
    challenge = ua.send()
    assert challenge.status == 401
    offered = challenges(challenge)
    assert set(offered) == {"MD5", "SHA-256"}
    assert offered["MD5"]["realm"] == office.realm and offered["MD5"]["qop"] == "auth"

    answer = authorization(offered["MD5"], "REGISTER", ua.uri, device.username, device.password)
    ok = ua.send(auth=answer, expires=300)
    assert ok.status == 200, ok
    assert contact_expiries(ok) == {ua.contact: 300}
    assert (ok.get("date") or "").endswith("GMT")

    [reg] = [r for r in registrations(master, office.id) if r["device_id"] == device.id]
    host, port = ua.sip.address
    assert reg["username"] == device.username and reg["realm"] == office.realm
    assert reg["contact"] == ua.contact and reg["source"] == f"{host}:{port}"
    assert reg["user_agent"] == "cloudpbx-tests" and 290 <= reg["expires"] <= 300
    assert reg["transport"] == "udp" and reg["reach"] == f"{host}:{port}", "loopback contacts are reached via source"
    listed = master.get(f"accounts/{office.id}/devices?with_status=true").json()["data"]
    status = {d["id"]: d["registered"] for d in listed}
    assert status[device.id] is True and status[other.id] is False
    ua.close()


def test_wrong_password_and_unknown_names_are_forbidden(master, office):
    device = new_device(master, office.id)
    ua = phone(office, device, bind=spare_loopback())
    assert ua.register(password="not-the-password").status == 403
    stranger = Registrant(office.port, office.realm, "nobody-here", "whatever", bind=ua.sip.address[0])
    assert stranger.register().status == 403
    elsewhere = Registrant(
        office.port, "no-such-realm.example", device.username, device.password, bind=ua.sip.address[0]
    )
    assert elsewhere.register().status == 403
    assert not [r for r in registrations(master, office.id) if r["device_id"] == device.id]
    for client in (ua, stranger, elsewhere):
        client.close()


def test_sha256_digest(master, office):
    device = new_device(master, office.id)
    ua = phone(office, device)
    assert ua.register(algorithm="SHA-256").status == 200
    assert ua.last_challenge["algorithm"] == "SHA-256"
    assert [r["contact"] for r in registrations(master, office.id) if r["device_id"] == device.id] == [ua.contact]
    ua.close()


def test_a_nonce_count_cannot_be_replayed(master, office):
    device = new_device(master, office.id)
    ua = phone(office, device, bind=spare_loopback())
    challenge = challenges(ua.send())["MD5"]

    def answer(nc: int) -> str:
        return authorization(challenge, "REGISTER", ua.uri, device.username, device.password, nc=nc)

    first = answer(1)
    assert ua.send(auth=first).status == 200
    replayed = ua.send(auth=first)
    assert replayed.status == 401 and "stale" not in replayed.get("www-authenticate")
    assert ua.send(auth=answer(2)).status == 200, "the next nonce count is fine"
    assert ua.send(auth=answer(2)).status == 401
    ua.close()


def test_default_expiry_clamping_and_several_contacts(master, office):
    device = new_device(master, office.id, sip={"expire_seconds": 120})
    ua = phone(office, device)
    assert contact_expiries(ua.register()) == {ua.contact: 120}, "the device's expire_seconds by default"

    host, port = ua.sip.address
    second, third = f"sip:{device.username}@{host}:{port};line=2", f"sip:{device.username}@{host}:{port};line=3"
    ok = ua.register(contacts=[f"<{second}>;expires=10", f"<{third}>;expires=999999"])
    assert ok.status == 200
    assert contact_expiries(ok) == {ua.contact: pytest.approx(120, abs=2), second: 60, third: 3600}
    listed = {r["contact"] for r in registrations(master, office.id) if r["device_id"] == device.id}
    assert listed == {ua.contact, second, third}

    query = ua.register(contacts=[])
    assert query.status == 200 and set(contact_expiries(query)) == listed, "no Contact: just list the bindings"
    ua.close()


def test_unregister_one_contact_then_all(master, office):
    device = new_device(master, office.id)
    ua = phone(office, device)
    other = f"sip:{device.username}@127.0.0.1:5999"
    assert ua.register(contacts=[f"<{ua.contact}>", f"<{other}>"]).status == 200

    gone = ua.register(contacts=[f"<{other}>"], expires=0)
    assert gone.status == 200 and set(contact_expiries(gone)) == {ua.contact}
    assert ua.register(contacts=["*"], expires=300).status == 400, "* needs Expires: 0"
    everything = ua.register(contacts=["*"], expires=0)
    assert everything.status == 200 and contact_expiries(everything) == {}
    assert not [r for r in registrations(master, office.id) if r["device_id"] == device.id]
    ua.close()


def test_an_older_register_cannot_undo_a_newer_one(master, office):
    device = new_device(master, office.id)
    ua = phone(office, device)
    ua.cseq = 10
    assert ua.register().status == 200
    challenge = challenges(ua.send())["MD5"]
    auth = authorization(challenge, "REGISTER", ua.uri, device.username, device.password)
    stale_cseq = ua.send(auth=auth, expires=0, cseq=5)  # not 1 to 13: those are transactions still alive (482)
    assert stale_cseq.status == 500
    assert [r["contact"] for r in registrations(master, office.id) if r["device_id"] == device.id] == [ua.contact]
    ua.close()


def test_disabled_devices_and_accounts_are_refused(master, office):
    disabled = new_device(master, office.id, enabled=False)
    ua = phone(office, disabled)
    assert ua.register().status == 403
    ua.close()

    parent = master.create_account(master.account_id, unique("Disabled parent"))
    child = master.create_account(parent["id"], unique("Child"))
    for account in (parent, child):
        device = new_device(master, account["id"])
        ua = Registrant(office.port, account["realm"], device.username, device.password)
        assert ua.register().status == 200, "enabled accounts register"
        ua.close()
    resp = master.patch(f"accounts/{parent['id']}", {"enabled": False})
    assert resp.status_code == 200 and resp.json()["data"]["enabled"] is False
    for account in (parent, child):  # the API's write reaches the registrar's account cache at once
        device = new_device(master, account["id"])
        ua = Registrant(office.port, account["realm"], device.username, device.password)
        refused = ua.register()
        assert refused.status == 403, f"{account['name']}: {refused}"
        ua.close()


def test_repeated_failures_from_one_address_are_throttled(master, office):
    device = new_device(master, office.id)
    source = spare_loopback()
    ua = phone(office, device, bind=source)
    for _ in range(10):
        assert ua.register(password="guess-guess").status == 403
    blocked = ua.send()
    assert blocked.status == 403 and "Too Many" in blocked.reason, "not even challenged any more"
    ua.close()
    honest = phone(office, device, bind=source)
    assert honest.register().status == 403, "the right password from that address is refused too"
    honest.close()
    elsewhere = phone(office, device)
    assert elsewhere.register().status == 200, "other addresses are not affected"
    elsewhere.close()


def test_register_over_tcp(master, office):
    device = new_device(master, office.id)
    ua = phone(office, device, transport="tcp")
    ok = ua.register()
    assert ok.status == 200 and contact_expiries(ok) == {ua.contact: 300}
    [reg] = [r for r in registrations(master, office.id) if r["device_id"] == device.id]
    host, port = ua.sip.address
    assert reg["transport"] == "tcp" and reg["reach"] == f"{host}:{port}", "calls reuse the phone's connection"
    ua.close()


def test_nat_contacts_are_reached_through_the_source_address(master, office):
    device = new_device(master, office.id)
    ua = phone(office, device)
    host, port = ua.sip.address
    private, public = f"sip:{device.username}@10.20.30.40:5060", f"sip:{device.username}@93.184.216.34:5062"
    assert ua.register(contacts=[f"<{private}>", f"<{public}>"], rport=False).status == 200
    reach = {r["contact"]: r["reach"] for r in registrations(master, office.id) if r["device_id"] == device.id}
    assert reach == {private: f"{host}:{port}", public: "93.184.216.34:5062"}
    assert ua.register(contacts=[f"<{public}>"], rport=True).status == 200
    reach = {r["contact"]: r["reach"] for r in registrations(master, office.id) if r["device_id"] == device.id}
    assert reach[public] == f"{host}:{port}", "rport asks for symmetric routing"
    ua.close()


@pytest.fixture(scope="module")
def quick_nonces(server):
    """A second server on the same database whose nonces go stale after one second."""
    sip_port = free_sip_port()
    proc, _ = start_server(server[1], server[2], extra_env={"CLOUDPBX_SIP_NONCE_TTL": "1"}, sip_port=sip_port)
    yield sip_port
    stop_server(proc)


def test_a_stale_nonce_gets_a_fresh_challenge(master, office, quick_nonces):
    device = new_device(master, office.id)
    ua = Registrant(quick_nonces, office.realm, device.username, device.password)
    challenge = challenges(ua.send())["MD5"]
    time.sleep(1.2)
    stale = ua.send(auth=authorization(challenge, "REGISTER", ua.uri, device.username, device.password))
    assert stale.status == 401
    fresh = challenges(stale)["MD5"]
    assert fresh["stale"] == "true" and fresh["nonce"] != challenge["nonce"]
    ok = ua.send(auth=authorization(fresh, "REGISTER", ua.uri, device.username, device.password))
    assert ok.status == 200
    ua.close()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_sipp_registers_with_digest(master, office, transport):
    device = new_device(master, office.id)
    keys = {"caller": device.username, "domain": office.realm}
    result = Sipp(
        "register_digest.xml",
        remote=f"127.0.0.1:{office.port}",
        transport=transport,
        keys=keys,
        auth=(device.username, device.password),
    ).run(timeout=20)
    assert result.ok, result.describe()
    [reg] = [r for r in registrations(master, office.id) if r["device_id"] == device.id]
    assert reg["user_agent"] == "SIPp" and reg["transport"] == transport and 110 <= reg["expires"] <= 120


def test_sipp_with_a_wrong_password_fails(master, office):
    device = new_device(master, office.id)
    keys = {"caller": device.username, "domain": office.realm}
    result = Sipp(
        "register_digest.xml", remote=f"127.0.0.1:{office.port}", keys=keys, auth=(device.username, "wrong-password")
    ).run(timeout=20)
    assert not result.ok and result.failed == 1
    assert "403" in result.errors or "403" in result.screen
    assert not [r for r in registrations(master, office.id) if r["device_id"] == device.id]


def test_every_final_answer_carries_a_to_tag(master, office):
    device = new_device(master, office.id)
    ua = phone(office, device, bind=spare_loopback())
    answers = [ua.send(), ua.register(password="wrong-one"), ua.register()]
    assert [a.status for a in answers] == [401, 403, 200]
    assert all(a.to.tag for a in answers)
    ua.close()

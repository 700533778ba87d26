"""Call restrictions on calls between pjsua2 phones: a device whose merged restriction denies the dialled number's
class is refused with 403 before anything rings and its CDR says OUTGOING_CALL_BARRED; an unrestricted device is
routed; emergency numbers are never barred; closed groups let a device call only extensions it shares a group
with. Changes to restrictions apply to the next call."""

from __future__ import annotations

from types import SimpleNamespace

from tests.helpers import unique
from tests.sip.phones import phones, wait_until  # noqa: F401 - phones is a fixture
from tests.telephony.test_calls import legs_of, new_callflow, new_device, phone_office, registered, ring_device

UK = "+442079460000"  # international
FRANCE = "+33144556677"  # international, and no callflow routes it


def tenant(master, server, **fields) -> SimpleNamespace:
    """A fresh account (restrictions set on an account apply to all of its devices) without the default `no_match`
    callflow, so a number the restrictions let through and no callflow holds ends 404 whatever carriers exist."""
    account = master.create_account(master.account_id, unique("Restricted"), **fields)
    master.drop_no_match(account["id"])
    return phone_office(account, server, 5000)


def deny(*classes: str) -> dict:
    return {name: {"action": "deny"} for name in classes}


def barred(master, office, phone, number: str) -> None:
    """The call is refused with 403 and its only CDR leg says OUTGOING_CALL_BARRED."""
    out = phone.call(number).wait("DISCONNECTED")
    assert out.code == 403, (out.code, out.reason)
    [leg] = legs_of(master, office, out.call_id, count=1)
    assert leg["hangup_cause"] == "OUTGOING_CALL_BARRED"


def connects(phone, callee, number: str) -> None:
    out = phone.call(number)
    callee.answer()
    out.wait("CONFIRMED")
    phone.hangup()
    out.wait("DISCONNECTED")


def test_a_denied_class_is_refused_before_anything_rings_and_others_are_routed(phones, master, server):
    office = tenant(master, server)
    bob_dev = new_device(master, office, "bob")
    master.create(office.id, "callflows", {"patterns": ["^\\+44\\d{10}$"], "flow": ring_device(bob_dev)})
    carol_dev = new_device(master, office, "carol", call_restriction=deny("international"))
    alice_dev = new_device(master, office, "alice", call_restriction={"international": {"action": "inherit"}})
    bob = registered(phones, office, bob_dev)
    carol, alice = registered(phones, office, carol_dev), registered(phones, office, alice_dev)

    barred(master, office, carol, UK)
    barred(master, office, carol, FRANCE)  # no callflow matches: still classified and refused, not 404
    assert not bob.calls, "a refused call rings nobody"
    connects(alice, bob, UK)
    assert alice.call(FRANCE).wait("DISCONNECTED").code == 404
    local = new_callflow(master, office, ring_device(bob_dev))
    connects(carol, bob, local)  # other classes stay open

    lifted = {"call_restriction": {"international": None}}
    assert master.patch(f"accounts/{office.id}/devices/{carol_dev.id}", lifted).status_code == 200
    connects(carol, bob, UK)  # the next call sees the change


def test_international_needs_both_the_account_and_the_user_open(phones, master, server):
    office = tenant(master, server, call_restriction={"international": {"action": "inherit"}})
    bob_dev = new_device(master, office, "bob")
    master.create(office.id, "callflows", {"patterns": ["^\\+44\\d{10}$"], "flow": ring_device(bob_dev)})
    ina_user = {"first_name": "Ina", "last_name": "Ter", "call_restriction": deny("international")}
    user = master.create(office.id, "users", ina_user)
    dev = new_device(master, office, "ina", owner_id=user["id"])
    ina, bob = registered(phones, office, dev), registered(phones, office, bob_dev)

    barred(master, office, ina, UK)  # the account allows it, the user does not
    opened = {"call_restriction": {"international": {"action": "inherit"}}}
    assert master.patch(f"accounts/{office.id}/users/{user['id']}", opened).status_code == 200
    connects(ina, bob, UK)
    assert master.patch(f"accounts/{office.id}", {"call_restriction": deny("international")}).status_code == 200
    barred(master, office, ina, UK)  # the user allows it, the account does not


def test_emergency_numbers_are_never_barred(phones, master, server):
    office = tenant(master, server, call_restriction=deny("emergency", "unknown", "international", "did_us"))
    em_user = {"first_name": "Em", "last_name": "Er", "call_restriction": deny("emergency")}
    user = master.create(office.id, "users", em_user)
    psap_dev = new_device(master, office, "psap")
    master.create(office.id, "callflows", {"numbers": ["911"], "flow": ring_device(psap_dev)})
    dev = new_device(master, office, "caller", owner_id=user["id"], call_restriction=deny("emergency", "closed_groups"))
    caller, psap = registered(phones, office, dev), registered(phones, office, psap_dev)

    connects(caller, psap, "911")
    assert caller.call("988").wait("DISCONNECTED").code == 404, "not barred: no callflow routes it"
    barred(master, office, caller, UK)


def test_closed_groups_allow_only_extensions_sharing_a_group(phones, master, server):
    office = tenant(master, server)
    me = master.create(office.id, "users", {"first_name": "Clo", "last_name": "Sed"})
    them = master.create(office.id, "users", {"first_name": "Far", "last_name": "Away"})
    mine = new_device(master, office, "mine", owner_id=me["id"], call_restriction=deny("closed_groups"))
    theirs = new_device(master, office, "theirs", owner_id=them["id"])
    extension = new_callflow(master, office, {"module": "user", "data": {"id": them["id"]}})
    caller, callee = registered(phones, office, mine), registered(phones, office, theirs)

    barred(master, office, caller, extension)
    group = master.create(office.id, "groups", {"name": "Team", "endpoints": {me["id"]: {"type": "user"}}})
    barred(master, office, caller, extension)  # only the caller is in it
    joined = {"endpoints": {them["id"]: {"type": "user"}}}
    assert master.patch(f"accounts/{office.id}/groups/{group['id']}", joined).status_code == 200
    connects(caller, callee, extension)
    assert caller.call(UK).wait("DISCONNECTED").code == 404, "a number that is no extension is judged by its class"

"""Kari's law between pjsua2 phones: a dial-out prefix that the caller's dial plan turns into 911 reaches 911 even
where every other class is denied, because restrictions judge the number after the caller's dial plans (as KAZOO's
`cf_route_win` does); the same dial plan still leaves other numbers barred by their class."""

from __future__ import annotations

from tests.sip.phones import phones  # noqa: F401 - phones is a fixture
from tests.telephony.test_calls import new_device, registered, ring_device
from tests.telephony.test_restrictions import UK, barred, connects, deny, tenant

DIAL_OUT = {"^9(\\d+)$": {"description": "9 for an outside line", "prefix": ""}}


def test_a_dial_out_prefix_reaches_911_past_every_denied_class(phones, master, server):
    office = tenant(master, server, call_restriction=deny("unknown", "international", "did_us", "emergency"))
    assert master.patch(f"accounts/{office.id}", {"dial_plan": DIAL_OUT}).status_code == 200
    psap_dev = new_device(master, office, "psap")
    master.create(office.id, "callflows", {"numbers": ["9911"], "flow": ring_device(psap_dev)})
    user = master.create(office.id, "users", {"first_name": "Dee", "last_name": "Al", "dial_plan": DIAL_OUT})
    dev = new_device(master, office, "dialer", owner_id=user["id"])
    caller, psap = registered(phones, office, dev), registered(phones, office, psap_dev)

    connects(caller, psap, "9911")
    barred(master, office, caller, f"9{UK[1:]}")  # → +442079460000: international, denied (no callflow needed)

"""GET /v2/accounts/{A}/route_explain: every decision a call would meet, without placing it, through the real
server: carriers global and local with weights, rules, flags and classifiers; restrictions per level and closed
groups; trunk limits; on-net numbers of the account and of another tenant; no route; short-dial correction; who may
ask, and bad input. Each case's account is new, and uses its own carriers (BYOC) where the global pool, shared with
the rest of the session, would let other tests' carriers in."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from tests.api.test_phone_numbers import E911, add
from tests.callflow.test_emergency import stepswitch
from tests.helpers import Client, unique


def name(prefix: str) -> str:
    """A unique user or SIP name (no spaces)."""
    return unique(prefix).replace(" ", "-")


@dataclass
class World:
    account: str
    user: str
    device: str


def new_world(master: Client, **account_fields) -> World:
    account = master.create_account(master.account_id, **account_fields)["id"]
    user = master.create(account, "users", {"first_name": "Ro", "last_name": "Ute", "username": name("ro")})["id"]
    device = master.create(
        account,
        "devices",
        {
            "name": unique("Desk"),
            "owner_id": user,
            "sip": {"username": name("desk"), "password": "x" * 12},
        },
    )["id"]
    return World(account, user, device)


@pytest.fixture
def world(master) -> World:
    return new_world(master)


def carrier(master: Client, account: str | None, name: str, rules: list[str], *servers: str, **fields) -> str:
    body = {"name": name, "rules": rules, "gateways": [{"server": s} for s in servers or ("127.0.0.2",)], **fields}
    path = f"accounts/{account}/resources" if account else "resources"
    created = master.put(path, body)
    assert created.status_code == 201, created.text
    return created.json()["data"]["id"]


def explain(client: Client, account: str, number: str, **params) -> dict:
    query = {"number": number, **{k: str(v).lower() if isinstance(v, bool) else v for k, v in params.items()}}
    reply = client.get(f"accounts/{account}/route_explain", params=query)
    assert reply.status_code == 200, reply.text
    return reply.json()["data"]


def trunks(master: Client, account: str, outbound: int) -> None:
    assert master.post(f"accounts/{account}/limits", {"outbound_trunks": outbound}).status_code == 200


def dial_strings(explained: dict, ids: set[str] | None = None) -> list[tuple[str, str]]:
    return [
        (e["carrier_name"], e["dial_string"])
        for e in explained["route"]["endpoints"]
        if ids is None or e["carrier_id"] in ids
    ]


def did() -> str:
    """A US number only this module's global carriers take (+1 556 2XX XXXX)."""
    return f"+15562{random.randrange(10, 99)}{random.randrange(1000, 9999)}"


GLOBAL_RULE = r"^\+1(5562\d{6})$"


def test_global_carriers_in_weight_order_with_each_rule_and_the_limits_that_would_apply(master, world):
    number = did()
    dear = carrier(master, None, unique("Dear"), [GLOBAL_RULE], "127.0.0.21", "127.0.0.22", weight_cost=80)
    cheap = carrier(master, None, unique("Cheap"), [r"^\+44(\d+)$", GLOBAL_RULE], "127.0.0.23", weight_cost=10)
    miss = carrier(master, None, unique("Miss"), [r"^\+1(5563\d{6})$"], "127.0.0.24")
    ours = {dear, cheap, miss}
    explained = explain(master, world.account, number[2:], device_id=world.device)
    assert explained["pool"] == "global" and explained["number"] == number
    assert [s["step"] for s in explained["steps"]] == ["dialled", "e164"]
    assert [server for _, server in dial_strings(explained, ours)] == [
        f"sip:{number[2:]}@127.0.0.23",
        f"sip:{number[2:]}@127.0.0.21",
        f"sip:{number[2:]}@127.0.0.22",
    ]
    carriers = {c["id"]: c for c in explained["route"]["carriers"] if c["id"] in ours}
    assert carriers[cheap]["verdict"] == "chosen" and carriers[miss]["verdict"] == "no rule matched"
    assert [r["matched"] for r in carriers[cheap]["rules"]] == [False, True]
    assert explained["route"]["classification"] == "did_us"
    # The account has no trunks (the default) and no credit: the carriers are found, the limits refuse the call.
    assert explained["outcome"] == "limits_denied" and explained["cause"] == "OUTGOING_CALL_BARRED"
    assert explained["limits"]["reason"] == "trunks_exhausted" and not explained["limits"]["account"]["allowed"]
    trunks(master, world.account, 1)
    allowed = explain(master, world.account, number, device_id=world.device)
    assert allowed["outcome"] == "carriers" and allowed["cause"] is None
    assert allowed["limits"]["account"] == {
        "allowed": True,
        "billing": "flat_rate",
        "trunk": "outbound",
        "soft_limit": False,
    }


def test_the_accounts_own_carriers_only_with_use_local_resources(master, world):
    byoc = carrier(master, world.account, "BYOC", [r"^\+1(\d{10})$"], "127.0.0.31")
    local = explain(master, world.account, "+14155550100", use_local_resources=True)
    assert local["pool"] == "local" and dial_strings(local) == [("BYOC", "sip:4155550100@127.0.0.31")]
    assert [c["id"] for c in local["route"]["carriers"]] == [byoc]
    shared = explain(master, world.account, "+14155550100")
    assert byoc not in {c["id"] for c in shared["route"]["carriers"]}


def test_flags_of_the_request_and_of_the_device_pick_the_carriers(master, world):
    carrier(master, world.account, "Plain", [r"^\+1(\d{10})$"], "127.0.0.41", weight_cost=10)
    carrier(master, world.account, "Fax", [r"^\+1(\d{10})$"], "127.0.0.42", flags=["fax"], weight_cost=20)
    carrier(master, world.account, "Fax only", [r"^\+1(\d{10})$"], "127.0.0.43", flags=["fax"], require_flags=True)

    def names(**params) -> list[str]:
        return [carrier for carrier, _ in dial_strings(explain(master, world.account, "+14155550100", **params))]

    assert names(use_local_resources=True) == ["Plain", "Fax"]
    assert names(use_local_resources=True, flags="fax") == ["Fax", "Fax only"]
    reasons = explain(master, world.account, "+14155550100", use_local_resources=True, flags="fax,t38")
    assert reasons["flags"] == ["fax", "t38"] and reasons["outcome"] == "no_route"
    assert {c["name"]: c["verdict"] for c in reasons["route"]["carriers"]} == {
        "Plain": "lacks flags ['fax', 't38']",
        "Fax": "lacks flags ['t38']",
        "Fax only": "lacks flags ['t38']",
    }
    assert (
        master.patch(f"accounts/{world.account}/devices/{world.device}", {"outbound_flags": ["fax"]}).status_code == 200
    )
    from_device = explain(master, world.account, "+14155550100", use_local_resources=True, device_id=world.device)
    assert from_device["flags"] == ["fax"]
    assert [carrier for carrier, _ in dial_strings(from_device)] == ["Fax", "Fax only"]


def test_classifier_carriers_serve_their_class(master, world):
    carrier(
        master,
        world.account,
        "Classes",
        [],
        "127.0.0.51",
        classifiers={"tollfree_us": {"prefix": "TF"}},
    )
    carrier(master, world.account, "Plain", [r"^\+(\d+)$"], "127.0.0.52")
    tollfree = explain(master, world.account, "8005550100", use_local_resources=True)
    assert tollfree["route"]["classification"] == "tollfree_us"
    assert dial_strings(tollfree) == [("Classes - tollfree_us", "sip:TF8005550100@127.0.0.51")]
    assert {c["name"]: c["verdict"] for c in tollfree["route"]["carriers"]}["Plain"] == (
        "classifier carriers serve class tollfree_us"
    )
    assert tollfree["outcome"] == "carriers" and tollfree["limits"]["account"]["billing"] == "limits_disabled"
    assert dial_strings(explain(master, world.account, "+14155550100", use_local_resources=True)) == [
        ("Plain", "sip:14155550100@127.0.0.52")
    ]


def restrict(master: Client, path: str, cls: str, value: str) -> None:
    changed = master.patch(path, {"call_restriction": {cls: {"action": value}}})
    assert changed.status_code == 200, changed.text


def test_international_needs_the_account_and_the_user_open(master, world):
    """The operator guide's FAQ: an international call needs both the account's and the user's class open."""
    carrier(master, world.account, "World", [r"^\+(\d+)$"], "127.0.0.61")
    trunks(master, world.account, 1)

    def asked() -> dict:
        return explain(master, world.account, "011442071838750", device_id=world.device, use_local_resources=True)

    restrict(master, f"accounts/{world.account}", "international", "deny")
    by_account = asked()
    assert by_account["outcome"] == "barred" and by_account["cause"] == "OUTGOING_CALL_BARRED"
    assert by_account["restrictions"]["levels"] == {"account": "deny", "owner": None, "device": None}
    assert by_account["restrictions"]["reason"] == "international: deny by the account"
    assert by_account["route"] is None and by_account["limits"] is None
    restrict(master, f"accounts/{world.account}", "international", "inherit")
    restrict(master, f"accounts/{world.account}/users/{world.user}", "international", "deny")
    by_user = asked()
    assert by_user["outcome"] == "barred" and by_user["restrictions"]["levels"]["owner"] == "deny"
    assert by_user["restrictions"]["reason"] == "international: deny by the owner"
    restrict(master, f"accounts/{world.account}/users/{world.user}", "international", "inherit")
    restrict(master, f"accounts/{world.account}/devices/{world.device}", "international", "deny")
    assert asked()["restrictions"]["reason"] == "international: deny by the device"
    restrict(master, f"accounts/{world.account}/devices/{world.device}", "international", "inherit")
    open_ = asked()
    assert open_["restrictions"]["barred"] is False and open_["restrictions"]["classifier"] == "international"
    assert dial_strings(open_) == [("World", "sip:442071838750@127.0.0.61")]
    # International numbers take no flat-rate trunk: per-minute, and the account has no credit.
    assert open_["outcome"] == "limits_denied" and open_["limits"]["reason"] == "insufficient_balance"
    # Without a device only the account's own action counts.
    restrict(master, f"accounts/{world.account}/users/{world.user}", "international", "deny")
    accounts_own = explain(master, world.account, "011442071838750", use_local_resources=True)
    assert accounts_own["restrictions"]["reason"] == "international: inherit by the account"
    assert accounts_own["restrictions"]["levels"] == {"account": "inherit", "owner": None, "device": None}


def test_closed_groups_leave_numbers_that_are_no_extension_to_their_class(master, world):
    carrier(master, world.account, "Any", [r"^\+(\d+)$"], "127.0.0.71")
    restrict(master, f"accounts/{world.account}/devices/{world.device}", "closed_groups", "deny")
    explained = explain(master, world.account, "+14155550100", device_id=world.device, use_local_resources=True)
    assert explained["restrictions"]["closed_groups"] == "deny"
    assert explained["restrictions"]["barred"] is False and explained["restrictions"]["classifier"] == "did_us"
    assert explained["route"]["endpoints"]


def test_a_number_of_the_account_is_delivered_on_net(master, world):
    carrier(master, world.account, "Any", [r"^\+(\d+)$"], "127.0.0.81")
    number = f"+1628{random.randrange(200, 999)}{random.randrange(1000, 9999)}"
    assert master.put(f"accounts/{world.account}/phone_numbers/{number}").status_code == 201
    explained = explain(master, world.account, number[2:], use_local_resources=True)
    assert explained["outcome"] == "on_net" and explained["cause"] is None
    assert explained["on_net"] == {
        "number": number,
        "account_id": world.account,
        "same_account": True,
        "delivered": True,
        "reason": "held by this account",
    }
    assert explained["route"] is None and explained["limits"] is None
    forced = master.post(f"accounts/{world.account}/phone_numbers/{number}", {"force_outbound": True})
    assert forced.status_code == 200, forced.text
    out = explain(master, world.account, number, use_local_resources=True)
    assert out["on_net"]["delivered"] is False and out["on_net"]["reason"] == "the number's force_outbound feature"
    assert out["outcome"] == "limits_denied" and dial_strings(out) == [("Any", f"sip:{number[1:]}@127.0.0.81")]


def test_another_tenants_number_is_on_net_without_naming_it(master, world):
    secret_name = unique("Secret Tenant")
    other = master.create_account(master.account_id, name=secret_name)["id"]
    number = f"+1628{random.randrange(200, 999)}{random.randrange(1000, 9999)}"
    assert master.put(f"accounts/{other}/phone_numbers/{number}").status_code == 201
    admin = master.admin_of(world.account, username=name("adm"))
    reply = admin.get(f"accounts/{world.account}/route_explain", params={"number": number})
    assert reply.status_code == 200, reply.text
    assert other not in reply.text and secret_name not in reply.text
    on_net = reply.json()["data"]["on_net"]
    assert on_net["account_id"] is None and on_net["same_account"] is False and on_net["delivered"] is True
    assert on_net["reason"] == "held by an account of the platform"


def test_no_route_destination_when_no_carrier_matches(master, world):
    carrier(master, world.account, "UK", [r"^\+44(\d+)$"], "127.0.0.91")
    explained = explain(master, world.account, "+14155550100", use_local_resources=True)
    assert explained["outcome"] == "no_route" and explained["cause"] == "NO_ROUTE_DESTINATION"
    assert explained["route"]["cause"] == "NO_ROUTE_DESTINATION" and explained["route"]["endpoints"] == []
    assert explained["limits"] is None


def test_short_dial_correction_takes_the_callers_leading_digits(master, world):
    carrier(master, world.account, "Bay", [r"^\+1(415\d{7})$"], "127.0.0.95")
    caller_id = {"caller_id": {"external": {"number": "+14155550100"}}}
    assert master.patch(f"accounts/{world.account}/devices/{world.device}", caller_id).status_code == 200
    explained = explain(master, world.account, "5550123", device_id=world.device, use_local_resources=True)
    assert explained["caller_id_number"] == "+14155550100"
    assert explained["steps"][-1] == {"step": "shortdial", "number": "+14155550123", "rule": None}
    assert dial_strings(explained) == [("Bay", "sip:4155550123@127.0.0.95")]
    # Not into a class the caller is denied.
    restrict(master, f"accounts/{world.account}", "did_us", "deny")
    denied = explain(master, world.account, "5550123", device_id=world.device, use_local_resources=True)
    assert denied["outcome"] == "no_route" and [s["step"] for s in denied["steps"]] == ["dialled"]


def test_only_admins_of_the_account_or_its_ancestors_may_explain(master, world):
    reseller = master.create_account(master.account_id)["id"]
    child = master.create_account(reseller)["id"]
    grandchild = master.create_account(child)["id"]
    ancestor_admin = master.admin_of(reseller, username=name("res"))
    assert (
        ancestor_admin.get(f"accounts/{grandchild}/route_explain", params={"number": "+14155550100"}).status_code == 200
    )
    child_admin = master.admin_of(grandchild, username=name("kid"))
    for account in (child, reseller, world.account):
        refused = child_admin.get(f"accounts/{account}/route_explain", params={"number": "+14155550100"})
        assert refused.status_code == 403 and refused.json()["status"] == "error"
    password = "user-pass-word-1"
    username = name("plain")
    master.create(
        world.account, "users", {"first_name": "Us", "last_name": "Er", "username": username, "password": password}
    )
    realm = master.get(f"accounts/{world.account}").json()["data"]["realm"]
    user = Client(master.base)
    user.login(username, password, account_realm=realm)
    refused = user.get(f"accounts/{world.account}/route_explain", params={"number": "+14155550100"})
    assert refused.status_code == 403 and refused.json()["status"] == "error"
    other = new_world(master)
    foreign = master.get(f"accounts/{world.account}/route_explain", params={"number": "1", "device_id": other.device})
    assert foreign.status_code == 404 and foreign.json()["status"] == "error"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "number"),
        ({"number": ""}, "number"),
        ({"number": "sip:evil@example.com"}, "number"),
        ({"number": "1" * 65}, "number"),
        ({"number": "+1415", "device_id": "not-an-id"}, "device_id"),
        ({"number": "+1415", "use_local_resources": "maybe"}, "use_local_resources"),
        ({"number": "+1415", "flags": "a b"}, "flags"),
        ({"number": "+1415", "flags": ",".join(f"f{i}" for i in range(40))}, "flags"),
    ],
)
def test_bad_input_is_a_crossbar_400(master, world, params, field):
    reply = master.get(f"accounts/{world.account}/route_explain", params=params)
    assert reply.status_code == 400, reply.text
    body = reply.json()
    assert body["status"] == "error" and body["message"] == "validation error" and field in body["data"]


def test_an_emergency_number_is_never_barred_nor_limited(master, world):
    carrier(master, world.account, "PSAP", [r"^(911)$"], "127.0.0.99", emergency=True)
    restrict(master, f"accounts/{world.account}", "emergency", "deny")
    restrict(master, f"accounts/{world.account}/devices/{world.device}", "emergency", "deny")
    explained = explain(master, world.account, "911", device_id=world.device, use_local_resources=True)
    assert explained["restrictions"]["barred"] is False
    assert explained["restrictions"]["reason"] == "emergency numbers are never barred"
    assert explained["route"]["classification"] == "emergency" and explained["route"]["emergency"] is True
    assert dial_strings(explained) == [("PSAP", "sip:911@127.0.0.99")]
    # No trunks and no credit: emergency calls are exempt from the limits.
    assert explained["outcome"] == "carriers" and explained["limits"]["account"]["billing"] == "limits_disabled"


def test_a_number_of_a_sub_account_is_named_to_its_parent_but_the_parents_is_not_named_to_it(master, world):
    child = master.create_account(world.account)["id"]
    below = f"+1628{random.randrange(200, 999)}{random.randrange(1000, 9999)}"
    above = f"+1628{random.randrange(200, 999)}{random.randrange(1000, 9999)}"
    assert master.put(f"accounts/{child}/phone_numbers/{below}").status_code == 201
    assert master.put(f"accounts/{world.account}/phone_numbers/{above}").status_code == 201
    down = explain(master, world.account, below)["on_net"]
    assert down["account_id"] == child and down["same_account"] is False and down["delivered"] is True
    up = explain(master, child, above)["on_net"]
    assert up["account_id"] is None and up["reason"] == "held by an account of the platform"


def raw_explain(client: Client, account: str, number: str, **params: str) -> tuple[str, dict]:
    reply = client.get(f"accounts/{account}/route_explain", params={"number": number, **params})
    assert reply.status_code == 200, reply.text
    return reply.text, reply.json()["data"]


def test_only_system_admins_see_where_global_gateways_are_and_no_one_sees_a_password(master):
    """A global carrier's gateways are the platform's own settings: a reseller's or a sub-account's admins see the
    carrier, its rules and the number sent, not its server, port, realm or username; an account's own carriers
    stay whole to its admins; no gateway password is in any response."""
    number, secrets = did(), {"global": unique("gw-pass").replace(" ", ""), "byoc": unique("byoc-pw").replace(" ", "")}
    gateways = [
        {"server": "127.0.0.41", "port": 5071, "realm": "sip.carrier-realm.test", "username": "gwuser41"},
        {"server": "127.0.0.42", "invite_format": "username", "username": "gwuser42", "realm": "r42.test"},
    ]
    for gateway in gateways:
        gateway["password"] = secrets["global"]
    found = master.put("resources", {"name": unique("Platform"), "rules": [GLOBAL_RULE], "gateways": gateways})
    assert found.status_code == 201, found.text
    global_id = found.json()["data"]["id"]
    reseller = master.create_account(master.account_id)["id"]
    sub = master.create_account(reseller)["id"]
    byoc = carrier(
        master,
        sub,
        unique("Own"),
        [GLOBAL_RULE],
        "127.0.0.43",
        **{"gateways": [{"server": "127.0.0.43", "port": 5072, "username": "byocuser", "password": secrets["byoc"]}]},
    )
    body, full = raw_explain(master, sub, number)
    mine = [e for e in full["route"]["endpoints"] if e["carrier_id"] == global_id]
    assert [(e["server"], e["port"], e["dial_string"], e["redacted"]) for e in mine] == [
        ("127.0.0.41", 5071, f"sip:{number[2:]}@127.0.0.41:5071", False),
        ("127.0.0.42", 5060, "sip:gwuser42@127.0.0.42", False),
    ]
    assert secrets["global"] not in body
    admins = (master.admin_of(reseller, username=name("res")), master.admin_of(sub, username=name("sub")))
    for admin in admins:
        body, seen = raw_explain(admin, sub, number)
        mine = [e for e in seen["route"]["endpoints"] if e["carrier_id"] == global_id]
        assert [(e["server"], e["port"], e["dial_string"], e["redacted"]) for e in mine] == [
            (None, None, f"sip:{number[2:]}@redacted", True),
            (None, None, "sip:redacted", True),
        ]
        assert all(e["redacted"] for e in seen["route"]["endpoints"])  # every global carrier, not only this one
        named = [c for c in seen["route"]["carriers"] if c["id"] == global_id]
        assert named[0]["verdict"] == "chosen" and named[0]["rules"] == [{"rule": GLOBAL_RULE, "matched": True}]
        for hidden in ("127.0.0.41", "gwuser4", "carrier-realm", "r42.test", secrets["global"]):
            assert hidden not in body, hidden
        body, own = raw_explain(admin, sub, number, use_local_resources="true")
        assert [(e["server"], e["port"], e["dial_string"], e["redacted"]) for e in own["route"]["endpoints"]] == [
            ("127.0.0.43", 5072, f"sip:{number[2:]}@127.0.0.43:5072", False)
        ]
        assert own["route"]["endpoints"][0]["carrier_id"] == byoc
        assert secrets["byoc"] not in body and secrets["global"] not in body


def test_an_emergency_call_names_the_caller_id_it_would_present_or_its_refusal(master, world):
    """The emergency step of the call, as the call takes it: no E911 number in the account goes out flagged, or is
    refused 486 when invalid IDs are denied; an E911 number of the account is presented. Only the global pool
    validates, so the carrier is global for the test's length."""
    psap = carrier(master, None, "PSAP explained", [r"^(911)$"], "127.0.0.98", emergency=True)
    try:
        flagged = explain(master, world.account, "911", device_id=world.device)["emergency"]
        assert flagged["e911"] is False and flagged["refused"] is False and flagged["code"] is None
        with stepswitch(master, deny_invalid_emergency_cid=True):
            refused = explain(master, world.account, "911", device_id=world.device)
        assert refused["outcome"] == "carriers", "the plan reaches carriers; the emergency step refuses"
        assert refused["emergency"]["refused"] is True and refused["emergency"]["code"] == 486
        assert refused["emergency"]["cause"] == "Emergency service not configured"
        located = f"+1415{random.randrange(200, 999)}{random.randrange(1000, 9999)}"
        add(master, world.account, located, e911=E911)
        presented = explain(master, world.account, "911", device_id=world.device)["emergency"]
        assert presented["caller_id_number"] == located and presented["e911"] is True and not presented["refused"]
        assert explain(master, world.account, "+14155550123")["emergency"] is None
    finally:
        assert master.delete(f"resources/{psap}").status_code == 200

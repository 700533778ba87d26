"""Running callflows stored through the API: which devices get rung, how, and which branches follow.

The SIP leg is not built yet, so `RecordingCall` below stands in for it (and only for it): it records each
bridge the engine asks for and lets each phone answer, be busy, stay silent or have the caller cancel. Flows,
devices, users and groups are real documents of the served platform; the engine runs in-process over them.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from types import SimpleNamespace

import pytest

from cloudpbx.callflow.call import BridgeResult, Target
from cloudpbx.callflow.caller_id import CallerId

_numbers = itertools.count(5000)


@dataclass
class Bridged:
    devices: list[str]
    strategy: str
    timeout_s: int
    timings: dict[str, tuple[int, int]]  # device id → (timeout_s, delay_s)
    caller_id: tuple[str, str]  # the (name, number) presented


class RecordingCall:
    """The inbound leg as the engine sees it; `phones` maps device ids to answer/busy/silent/cancel."""

    def __init__(self, account_id: str, dialed: str, caller_device: dict | None, phones: dict | None = None):
        self.call_id = f"call-{dialed}"
        self.account_id = account_id
        self.dialed = dialed
        self.caller_device = caller_device
        self.caller_id = CallerId("From Header", "000")
        self.ended = False
        self.phones = phones or {}
        self.bridges: list[Bridged] = []
        self.responses: list[tuple[int, str]] = []
        self.hangups: list[str] = []

    async def bridge(self, targets: list[Target], strategy: str, timeout_s: int) -> BridgeResult:
        self.bridges.append(
            Bridged(
                [t.device_id for t in targets],
                strategy,
                timeout_s,
                {t.device_id: (t.timeout_s, t.delay_s) for t in targets},
                (self.caller_id.shown_name, self.caller_id.shown_number),
            )
        )
        behaviours = [self.phones.get(t.device_id, "silent") for t in targets]
        if "cancel" in behaviours:
            self.ended = True
            return BridgeResult(False, "ORIGINATOR_CANCEL", 487)
        if "answer" in behaviours:
            self.ended = True
            return BridgeResult(True, "NORMAL_CLEARING")
        if all(b == "busy" for b in behaviours):
            return BridgeResult(False, "USER_BUSY", 486)
        return BridgeResult(False, "NO_ANSWER", 480)

    async def respond(self, code: int, reason: str) -> None:
        self.responses.append((code, reason))
        self.ended = self.ended or code >= 300

    async def hangup(self, cause: str) -> None:
        if not self.ended:
            self.hangups.append(cause)
            self.ended = True

    @property
    def rung(self) -> list[list[str]]:
        return [b.devices for b in self.bridges]


@pytest.fixture(scope="module")
def office(master) -> SimpleNamespace:
    """alice (calling from her desk phone; she also has a softphone), bob (two phones and a disabled one),
    carol (one phone), lobby and hall phones without owner, and the group "sales": bob (weight 2) and
    carol's phone (weight 1)."""
    account = master.create_account(master.account_id)["id"]
    ids = {"account": account}
    for name in ("alice", "bob", "carol"):
        ids[name] = master.create(
            account,
            "users",
            {
                "first_name": name.title(),
                "last_name": "Office",
                "caller_id": {"internal": {"name": name.title(), "number": "101"}} if name == "alice" else {},
            },
        )["id"]
    for name, owner, enabled in (
        ("alice_desk", "alice", True),
        ("alice_soft", "alice", True),
        ("bob_desk", "bob", True),
        ("bob_soft", "bob", True),
        ("bob_old", "bob", False),
        ("carol_desk", "carol", True),
        ("lobby", None, True),
        ("hall", None, True),
    ):
        ids[name] = master.create(
            account, "devices", {"name": name, "enabled": enabled, **({"owner_id": ids[owner]} if owner else {})}
        )["id"]
    ids["sales"] = master.create(
        account,
        "groups",
        {
            "name": "Sales",
            "endpoints": {
                ids["bob"]: {"type": "user", "weight": 2},
                ids["carol_desk"]: {"type": "device", "weight": 1},
            },
        },
    )["id"]
    return SimpleNamespace(master=master, **ids)


def node(module: str, data: dict | None = None, **children: dict) -> dict:
    return {"module": module, "data": data or {}, "children": children}


def chain(*nodes: dict) -> dict:
    """Nodes one after another, each the `_` child of the one before."""
    for parent, child in itertools.pairwise(nodes):
        parent["children"]["_"] = child
    return nodes[0]


def store_flow(office, flow: dict) -> tuple[str, str]:
    """A callflow with a fresh extension: (number, callflow id)."""
    number = str(next(_numbers))
    return number, office.master.create(office.account, "callflows", {"numbers": [number], "flow": flow})["id"]


async def place(platform, office, flow: dict | str, phones: dict | None = None) -> RecordingCall:
    """alice's desk phone dials a new callflow with `flow` (or the given number); phones are named by office key."""
    number = flow if isinstance(flow, str) else store_flow(office, flow)[0]
    caller = await platform.store.get(office.account, office.alice_desk)
    call = RecordingCall(
        office.account, number, caller, {getattr(office, name): what for name, what in (phones or {}).items()}
    )
    await platform.callflows.handle(call)
    return call


def ids(office, *names: str) -> list[str]:
    return [getattr(office, name) for name in names]


async def test_an_answered_device_ends_the_flow(platform, office):
    flow = node("device", {"id": office.lobby, "timeout": 15, "delay": 2}, _=node("device", {"id": office.carol_desk}))
    call = await place(platform, office, flow, {"lobby": "answer"})
    assert call.rung == [ids(office, "lobby")]
    assert (call.bridges[0].strategy, call.bridges[0].timeout_s) == ("simultaneous", 15)
    assert call.bridges[0].timings == {office.lobby: (15, 2)}
    assert call.hangups == [] and call.responses == []


async def test_a_device_timeout_of_zero_means_the_default(platform, office):
    call = await place(platform, office, node("device", {"id": office.lobby, "dial_strategy": "single"}))
    assert (call.bridges[0].strategy, call.bridges[0].timeout_s) == ("single", 20)
    assert call.hangups == ["NO_ANSWER"]


BRANCH_PHONES = {
    "USER_BUSY": "carol_desk",
    "NO_ANSWER": "bob_desk",
    "sip:486": "bob_soft",
    "sip:480": "alice_soft",
    "_": "hall",
}


@pytest.mark.parametrize(
    "lobby,children,taken,hangup",
    [
        ("busy", ("USER_BUSY", "NO_ANSWER", "sip:486", "_"), "USER_BUSY", "NO_ANSWER"),
        ("silent", ("USER_BUSY", "NO_ANSWER", "sip:480", "_"), "NO_ANSWER", "NO_ANSWER"),
        ("busy", ("NO_ANSWER", "sip:486", "_"), "sip:486", "NO_ANSWER"),
        ("silent", ("USER_BUSY", "sip:486", "_"), "_", "NO_ANSWER"),
        ("busy", ("NO_ANSWER", "sip:480"), None, "USER_BUSY"),
    ],
)
async def test_a_failed_bridge_takes_the_cause_then_the_code_then_the_default_branch(
    platform, office, lobby, children, taken, hangup
):
    """Each branch rings a phone of its own, so the second phone rung shows which branch ran."""
    flow = node(
        "device",
        {"id": office.lobby},
        **{key: node("device", {"id": getattr(office, BRANCH_PHONES[key])}) for key in children},
    )
    call = await place(platform, office, flow, {"lobby": lobby})
    assert call.rung == [ids(office, "lobby")] + ([ids(office, BRANCH_PHONES[taken])] if taken else [])
    assert call.hangups == [hangup]


async def test_a_user_rings_the_users_enabled_devices_but_not_the_calling_one(platform, office):
    call = await place(platform, office, node("user", {"id": office.bob}))
    assert sorted(call.rung[0]) == sorted(ids(office, "bob_desk", "bob_soft"))  # not the disabled bob_old
    assert (call.bridges[0].strategy, call.bridges[0].timeout_s) == ("simultaneous", 20)
    call = await place(
        platform, office, node("user", {"id": office.alice, "strategy": "single", "timeout": 12, "delay": 1})
    )
    assert call.rung == [ids(office, "alice_soft")] and call.bridges[0].timings == {office.alice_soft: (12, 1)}
    assert call.bridges[0].strategy == "single"
    call = await place(platform, office, node("user", {"id": office.alice, "can_call_self": True}))
    assert sorted(call.rung[0]) == sorted(ids(office, "alice_desk", "alice_soft"))


async def test_nothing_to_ring_goes_on_with_the_default_child(platform, office):
    deviceless = office.master.create(office.account, "users", {"first_name": "No", "last_name": "Phone"})["id"]
    for first in (node("user", {"id": deviceless}), node("device", {"id": office.bob_old})):
        first["children"]["_"] = node("response", {"code": 480, "message": "Away"})
        call = await place(platform, office, first)
        assert call.rung == [] and call.responses == [(480, "Away")]


async def test_a_simultaneous_ring_group_resolves_users_and_groups_once_each(platform, office):
    flow = node(
        "ring_group",
        {
            "strategy": "simultaneous",
            "timeout": 40,
            "endpoints": [
                {"id": office.lobby, "endpoint_type": "device", "timeout": 10},
                {"id": office.bob, "endpoint_type": "user", "timeout": 25, "delay": 5},
                {"id": office.sales, "endpoint_type": "group", "timeout": 30, "delay": 3},
                {"id": office.alice_desk, "endpoint_type": "device"},
            ],
        },
    )
    call = await place(platform, office, flow, {"carol_desk": "answer"})
    bridge = call.bridges[0]
    assert (bridge.strategy, bridge.timeout_s) == ("simultaneous", 40) and len(call.bridges) == 1
    assert bridge.devices[0] == office.lobby and bridge.devices[-1] == office.carol_desk
    assert bridge.timings == {
        office.lobby: (10, 0),
        office.bob_desk: (25, 5),
        office.bob_soft: (25, 5),
        office.carol_desk: (30, 3),
    }  # bob once, alice's own phone left out
    assert call.hangups == []


async def test_a_single_ring_group_rings_group_members_by_weight(platform, office):
    flow = node(
        "ring_group",
        {"strategy": "single", "endpoints": [{"id": office.sales, "endpoint_type": "group", "timeout": 8}]},
    )
    call = await place(platform, office, flow, {"bob_desk": "answer"})
    assert call.bridges[0].strategy == "single" and call.bridges[0].timeout_s == 20
    assert call.rung[0][0] == office.carol_desk  # weight 1 before bob's weight 2
    assert sorted(call.rung[0][1:]) == sorted(ids(office, "bob_desk", "bob_soft"))
    assert set(call.bridges[0].timings.values()) == {(8, 0)}


async def test_ring_group_repeats_until_a_failure_branch_takes_the_call(platform, office):
    members = [{"id": office.lobby, "endpoint_type": "device"}]
    flow = node("ring_group", {"endpoints": members, "repeats": 3}, _=node("device", {"id": office.carol_desk}))
    call = await place(platform, office, flow)
    assert call.rung == [ids(office, "lobby")] * 3 + [ids(office, "carol_desk")]
    flow = node(
        "ring_group",
        {"endpoints": members, "repeats": 3},
        NO_ANSWER=node("device", {"id": office.bob_desk}),
        _=node("device", {"id": office.carol_desk}),
    )
    call = await place(platform, office, flow)
    assert call.rung == [ids(office, "lobby"), ids(office, "bob_desk")]


async def test_a_callflow_branch_comes_back_to_the_callers_default_child(platform, office):
    sub_number, sub_id = store_flow(
        office, node("set_cid", {"caller_id_name": "Sub"}, _=node("device", {"id": office.carol_desk}))
    )
    flow = node("callflow", {"id": sub_id}, _=node("device", {"id": office.lobby}))
    call = await place(platform, office, flow)
    assert call.rung == [ids(office, "carol_desk"), ids(office, "lobby")]
    assert [b.caller_id for b in call.bridges] == [("Sub", "101"), ("Sub", "101")]
    direct = await place(platform, office, sub_number)
    assert direct.rung == [ids(office, "carol_desk")]


async def test_callflow_branches_stop_after_fifty(platform, office):
    number, loop_id = store_flow(office, node("device", {"id": office.lobby}))
    looping = node("device", {"id": office.lobby}, _=node("callflow", {"id": loop_id}))
    assert office.master.patch(f"accounts/{office.account}/callflows/{loop_id}", {"flow": looping}).status_code == 200
    call = await place(platform, office, number)
    assert len(call.bridges) == 51 and call.hangups == ["NO_ANSWER"]


async def test_set_cid_and_prepend_cid_change_what_callees_see(platform, office):
    """alice's phone presents her user's internal caller ID ("Alice", "101") before any edit."""
    flow = chain(
        node("device", {"id": office.lobby}),
        node("prepend_cid", {"caller_id_name_prefix": "VIP ", "caller_id_number_prefix": "9"}),
        node("set_cid", {"caller_id_name": "Sales"}),
        node("device", {"id": office.carol_desk}),
        node("prepend_cid", {"caller_id_name_prefix": "Q ", "caller_id_number_prefix": "8"}),
        node("device", {"id": office.bob_desk}),
        node("prepend_cid", {"caller_id_name_prefix": "X ", "caller_id_number_prefix": "7", "apply_to": "original"}),
        node("device", {"id": office.bob_soft}),
        node("prepend_cid", {"action": "reset"}),
        node("set_cid", {"caller_id_name": "", "caller_id_number": "555"}),
        node("device", {"id": office.alice_soft}),
    )
    call = await place(platform, office, flow)
    assert [b.caller_id for b in call.bridges] == [
        ("Alice", "101"),
        ("VIP Sales", "9101"),
        ("Q VIP Sales", "89101"),
        ("X Sales", "7101"),
        ("Alice", "555"),
    ]


async def test_response_answers_with_its_code_and_ends_the_flow(platform, office):
    call = await place(
        platform, office, node("response", {"code": 503, "message": "Closed"}, _=node("device", {"id": office.lobby}))
    )
    assert call.responses == [(503, "Closed")] and call.rung == [] and call.hangups == []
    call = await place(platform, office, node("response"))
    assert call.responses == [(486, "")]


async def test_skipped_and_unknown_modules_go_on_with_the_default_child(platform, office):
    flow = node(
        "device",
        {"id": office.lobby, "skip_module": True},
        _=node("play", {"id": "welcome"}, _=node("device", {"id": office.carol_desk})),
    )
    call = await place(platform, office, flow)
    assert call.rung == [ids(office, "carol_desk")]


async def test_a_caller_who_cancels_ends_the_flow(platform, office):
    flow = node(
        "device",
        {"id": office.lobby},
        ORIGINATOR_CANCEL=node("device", {"id": office.bob_desk}),
        _=node("device", {"id": office.carol_desk}),
    )
    call = await place(platform, office, flow, {"lobby": "cancel"})
    assert call.rung == [ids(office, "lobby")] and call.hangups == []


async def test_an_unrouted_number_is_answered_404(platform, office):
    call = await place(platform, office, "nowhere")
    assert call.responses == [(404, "Not Found")] and call.rung == []

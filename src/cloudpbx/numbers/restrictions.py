"""Call restrictions: may a calling device reach a number (KAZOO's `cf_route_win` and the merge of
`kz_endpoint`'s `call_restriction`).

Every classifier has an action at three levels, `call_restriction.<class>.action`: `inherit` (the default) or
`deny`, on the account, on the device's owner (a user) and on the device. The merge, per class: a deny on the
account or the owner wins; else an owner's `allow` (KAZOO writes it for hotdesked users) lifts a device's deny;
else the device's own action stands. So `inherit` on the account lets users and devices decide, and the account's
and the user's class must both be open for a user's phone to call it. Emergency numbers are never refused
(Kari's law). A device with `call_restriction.closed_groups.action` deny may call the extension of a user or
device only when they share a group; numbers that are no extension are judged by their class.

Everything here reads documents as they are stored now, so a change is obeyed by the next call in every process;
route explanations and carrier routing call the same `Restrictions` methods as calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from cloudpbx.accounts import devices
from cloudpbx.accounts.accounts import Accounts
from cloudpbx.accounts.documents import Documents
from cloudpbx.accounts.kinds import DEVICE, KINDS, USER
from cloudpbx.numbers.classification import Classifiers
from cloudpbx.numbers.classifiers import is_emergency, normalize
from cloudpbx.numbers.dial_plans import apply_dial_plan, plans_of
from cloudpbx.store import Doc

DENY, ALLOW, INHERIT = "deny", "allow", "inherit"
CLOSED_GROUPS = "closed_groups"
BARRED = "OUTGOING_CALL_BARRED"  # the hangup cause of a refused call (SIP 403)
EXTENSION_MODULES = ("user", "device")


@dataclass(frozen=True)
class Decision:
    """The merged action of one class and the level that decided it: account, owner or device."""

    action: str
    level: str


LEVELS = ("account", "owner", "device")


@dataclass(frozen=True)
class Verdict:
    """Whether a call is refused, the number as classified, its class (None: no classifier matched), and why;
    `levels` is the class's action as set on the account, the owner and the device (None: unset or no such
    document), and `closed_groups` the device's closed groups action, for explaining."""

    barred: bool
    number: str
    classifier: str | None
    reason: str
    levels: tuple[tuple[str, str | None], ...] = ()
    closed_groups: str | None = None


def action(doc: Doc | None, name: str) -> str | None:
    """`call_restriction.<name>.action` of a document, None when unset."""
    node = (doc or {}).get("call_restriction")
    entry = node.get(name) if isinstance(node, dict) else None
    value = entry.get("action") if isinstance(entry, dict) else None
    return value if isinstance(value, str) else None


def decide(name: str, account: Doc | None, owner: Doc | None, device: Doc) -> Decision:
    """KAZOO's merge of one class: account or owner deny, else owner allow, else the device's own action."""
    for level, doc in (("account", account), ("owner", owner)):
        if action(doc, name) == DENY:
            return Decision(DENY, level)
    if action(owner, name) == ALLOW:
        return Decision(ALLOW, "owner")
    return Decision(action(device, name) or INHERIT, "device")


def extension(flow: object) -> tuple[str, str] | None:
    """(module, id) when a callflow is a user's or device's extension: it starts by ringing that user or device,
    followed by voicemail or nothing (what closed groups look at)."""
    if not isinstance(flow, dict) or flow.get("module") not in EXTENSION_MODULES:
        return None
    data, children = flow.get("data"), flow.get("children")
    ident = data.get("id") if isinstance(data, dict) else None
    after = children.get("_") if isinstance(children, dict) else None
    then = after.get("module") if isinstance(after, dict) else None
    if not isinstance(ident, str) or not ident or then not in (None, "voicemail"):
        return None
    return flow["module"], ident


def groups_of(member_ids: list[str | None], groups: list[Doc]) -> set[str]:
    """The ids of the groups whose endpoints list any of these users or devices."""
    return {g["_id"] for g in groups for ident in member_ids if ident and ident in (g.get("endpoints") or {})}


@dataclass(frozen=True)
class Caller:
    """Who calls, as a restriction decision reads it: the account, the device (None: the account itself) and the
    device's owner, read once per call."""

    account_id: str
    account: Doc
    device: Doc | None = None
    owner: Doc | None = None


class Restrictions:
    def __init__(self, documents: Documents, accounts: Accounts, classifiers: Classifiers):
        self.documents = documents
        self.accounts = accounts
        self.classifiers = classifiers

    async def caller(self, account_id: str, device: Doc | None) -> Caller:
        """The documents a caller's restrictions are read from, as stored now (None: the account itself calls)."""
        account = await self.accounts.get(account_id)
        if device is None:
            return Caller(account_id, account)
        device = await self._fresh(account_id, device)
        return Caller(account_id, account, device, await self._owner(account_id, device))

    async def check(self, account_id: str, device: Doc | None, number: str, flow: object = None) -> Verdict:
        """May `device` (None: a call of the account with no device) call `number` (the dialled number, or the
        capture of the pattern that routed it), which reaches `flow` (None: no callflow)?"""
        return await self.judge(await self.caller(account_id, device), number, flow)

    async def judge(self, caller: Caller, number: str, flow: object = None) -> Verdict:
        """`check` over documents already read. An emergency number as dialled is never refused; any other is
        judged by its class after the caller's dial plans, so a dial-out prefix that makes 911 reaches 911. The
        verdict carries the action of the number's class at each level, so explaining a route and deciding a call
        are one path."""
        account, owner, device = caller.account, caller.owner, caller.device
        matched = await self.classifiers.match(number)
        if not (matched and is_emergency(matched)):  # as KAZOO, classified after the caller's dial plans
            number = apply_dial_plan(number, plans_of(device, owner, account))[0]
            matched = await self.classifiers.match(number)
        name = matched["name"] if matched else None
        actions = (action(doc, name) if name else None for doc in (account, owner, device))
        closed = action(device, CLOSED_GROUPS)
        found = partial(
            Verdict,
            number=number,
            classifier=name,
            levels=tuple(zip(LEVELS, actions, strict=True)),
            closed_groups=closed,
        )
        if matched and is_emergency(matched):
            return found(barred=False, reason="emergency numbers are never barred")
        callee = extension(flow) if closed == DENY else None
        if device is not None and callee is not None:
            shared = await self._share_group(caller.account_id, device, *callee)
            why = f"closed groups: {callee[0]} {callee[1]} {'shares' if shared else 'shares no'} group with the caller"
            return found(barred=not shared, reason=why)
        if name is None:
            return found(barred=False, reason=f"{normalize(number)} matches no classifier")
        decision = decide(name, account, owner, device or {})
        level = decision.level if device is not None else "account"
        return found(barred=decision.action == DENY, reason=f"{name}: {decision.action} by the {level}")

    async def denied_classes(self, caller: Caller) -> frozenset[str]:
        """The classes the merge denies to this caller (short-dial correction never completes a number into one)."""
        names = [entry["name"] for entry in await self.classifiers.current()]
        merged = (decide(name, caller.account, caller.owner, caller.device or {}) for name in names)
        return frozenset(name for name, decision in zip(names, merged, strict=True) if decision.action == DENY)

    async def _fresh(self, account_id: str, device: Doc) -> Doc:
        """The device as stored now (a call's copy comes from the authentication cache and may be seconds old)."""
        return await self.documents.find(DEVICE, account_id, device["_id"]) or device

    async def _owner(self, account_id: str, device: Doc) -> Doc | None:
        owner_id = devices.owner_id(device)
        return await self.documents.find(USER, account_id, owner_id) if owner_id else None

    async def _share_group(self, account_id: str, device: Doc, module: str, callee_id: str) -> bool:
        """KAZOO's closed groups: the caller (device or owner) and the callee share a group; a callee device
        also counts through its owner."""
        groups = await self.documents.list(KINDS["groups"], account_id)
        mine = groups_of([device["_id"], devices.owner_id(device)], groups)
        if mine & groups_of([callee_id], groups):
            return True
        if module != "device":
            return False
        callee = await self.documents.find(DEVICE, account_id, callee_id)
        return bool(callee and mine & groups_of([devices.owner_id(callee)], groups))

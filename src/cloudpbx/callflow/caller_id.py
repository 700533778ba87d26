"""Caller ID of a calling device: name and number from device → owner user → account chain, then privacy.

The result says what the callee is shown (`sip()`): KAZOO shows "anonymous" / "0000000000" for hidden parts
(system config `privacy.privacy_name` / `privacy.privacy_number` can change them) whatever the call's direction.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from cloudpbx.accounts import devices
from cloudpbx.accounts.accounts import Accounts
from cloudpbx.accounts.documents import Documents
from cloudpbx.accounts.inheritance import resolve
from cloudpbx.accounts.kinds import USER
from cloudpbx.accounts.system_configs import SystemConfigs
from cloudpbx.store import Doc

ANONYMOUS_NAME = "anonymous"
ANONYMOUS_NUMBER = "0000000000"

# caller_id_options.outbound_privacy → (hide name, hide number)
PRIVACY_MODES: dict[str, tuple[bool, bool]] = {
    "full": (True, True),
    "name": (True, False),
    "number": (False, True),
    "none": (False, False),
}

# Which caller ID entry a call type uses, nearest first (an emergency call without one presents the external ID).
ENTRIES: dict[str, tuple[str, ...]] = {
    "internal": ("internal",),
    "external": ("external",),
    "emergency": ("emergency", "external"),
}


@dataclass(frozen=True)
class SipIdentity:
    """What the B2BUA puts on the leg towards the callee.

    `display`/`user` go into the From header. `privacy` is the Privacy header value (None: no header).
    `asserted_name`/`asserted_number` are the true identity for P-Asserted-Identity: send it to trusted peers
    (carriers) always, to phones only when `privacy` is None.
    """

    display: str
    user: str
    privacy: str | None
    asserted_name: str
    asserted_number: str


@dataclass(frozen=True)
class CallerId:
    name: str = ""
    number: str = ""
    hide_name: bool = False
    hide_number: bool = False
    anonymous_name: str = ANONYMOUS_NAME
    anonymous_number: str = ANONYMOUS_NUMBER

    @property
    def shown_name(self) -> str:
        return self.anonymous_name if self.hide_name else self.name

    @property
    def shown_number(self) -> str:
        return self.anonymous_number if self.hide_number else self.number

    def with_values(self, name: str, number: str) -> CallerId:
        """The same privacy with another name and number (set_cid, prepend_cid)."""
        return replace(self, name=name, number=number)

    def sip(self) -> SipIdentity:
        hidden = self.hide_name or self.hide_number
        return SipIdentity(self.shown_name, self.shown_number, "id" if hidden else None, self.name, self.number)


def _privacy(chain: list[Doc]) -> str:
    """The nearest `caller_id_options.outbound_privacy` (an explicit "none" stops the walk)."""
    for doc in chain:
        mode = (doc.get("caller_id_options") or {}).get("outbound_privacy")
        if mode in PRIVACY_MODES:
            return mode
    return "none"


def _entry(merged: dict, call_type: str) -> dict:
    for kind in ENTRIES.get(call_type, (call_type,)):
        entry = merged.get(kind)
        if isinstance(entry, dict) and (entry.get("name") or entry.get("number")):
            return entry
    return {}


class CallerIds:
    """Resolves the caller ID a device presents, from the device, its owner and its account chain."""

    def __init__(self, documents: Documents, accounts: Accounts, configs: SystemConfigs):
        self.documents = documents
        self.accounts = accounts
        self.configs = configs

    async def for_device(
        self, account_id: str, device: Doc, call_type: str = "internal", fallback: CallerId | None = None
    ) -> CallerId:
        """`call_type` is internal, external or emergency; `fallback` (what the phone sent) fills missing parts."""
        return (await self.for_device_types(account_id, device, (call_type,), fallback))[0]

    async def for_device_types(
        self, account_id: str, device: Doc, call_types: tuple[str, ...], fallback: CallerId | None = None
    ) -> list[CallerId]:
        """The device's caller ID for each call type, its owner and accounts read once for all."""
        fallback = fallback or CallerId()
        owner = await self._owner(account_id, device)
        endpoints = [device, owner] if owner else [device]
        accounts = await self.accounts.chain(account_id)
        resolved = await resolve(self.configs, "caller_id", endpoints, accounts)
        hide_name, hide_number = PRIVACY_MODES[_privacy(endpoints + accounts)]
        anonymous_name = await self.configs.value("privacy", "privacy_name", ANONYMOUS_NAME)
        anonymous_number = await self.configs.value("privacy", "privacy_number", ANONYMOUS_NUMBER)
        return [
            CallerId(
                name=entry.get("name") or fallback.name,
                number=entry.get("number") or fallback.number,
                hide_name=hide_name,
                hide_number=hide_number,
                anonymous_name=anonymous_name,
                anonymous_number=anonymous_number,
            )
            for entry in (_entry(resolved, call_type) for call_type in call_types)
        ]

    async def _owner(self, account_id: str, device: Doc) -> Doc | None:
        owner_id = devices.owner_id(device)
        return await self.documents.find(USER, account_id, owner_id) if owner_id else None

"""The caller ID of an emergency call (KAZOO's stepswitch emergency bridge): a dispatcher must see a number whose
E911 address says where the caller is, so the number presented is checked against the account's E911 numbers.

The configured one is `caller_id.emergency` of the device, its owner, then the account chain (else `external`).
With system config `stepswitch.ensure_valid_emergency_cid` (default true here, false in KAZOO) it must be a number of
the account with an E911 address; else the outbound (external) number if it has one; else the account's first
E911 number. When the account has none, `stepswitch.deny_invalid_emergency_cid` refuses the call (486 "Emergency
service not configured"); otherwise it still goes out, flagged, with `stepswitch.default_emergency_cid_number` or
the best caller ID known (KAZOO falls back to the anonymous number; a dispatcher can call back a real one). Calls
through an account's own carriers are not validated (KAZOO: the platform cannot know that carrier's E911 records).
Privacy is never applied to an emergency call.
"""

from __future__ import annotations

from dataclasses import dataclass

from cloudpbx.accounts.system_configs import SystemConfigs, setting
from cloudpbx.callflow.caller_id import CallerId, CallerIds
from cloudpbx.numbers.classifiers import normalize
from cloudpbx.numbers.manager import Numbers
from cloudpbx.store import Doc

CATEGORY = "stepswitch"
NOT_CONFIGURED = "Emergency service not configured"
DENY_CODE = 486


@dataclass(frozen=True)
class EmergencyIdentity:
    """What an emergency call presents, or why it is refused.

    `caller_id` carries no privacy; `e911` says the number has an E911 address in the account (when False the CDR
    flags the call); `address` is that number's E911 address; `refused` calls are answered `code` `cause`."""

    caller_id: CallerId
    e911: bool
    refused: bool
    reason: str
    address: Doc | None = None
    code: int = DENY_CODE
    cause: str = NOT_CONFIGURED

    @property
    def flagged(self) -> bool:
        return not self.e911

    def cdr_vars(self) -> Doc:
        """What the call's CDR carries (custom channel vars): that it was an emergency call, whether its caller
        ID has an E911 address, and why it was chosen or refused."""
        return {"emergency_call": True, "emergency_cid_valid": self.e911, "emergency_cid_reason": self.reason}


def _flag(settings: Doc | None, key: str, default: bool) -> bool:
    value = setting(settings, key, default)
    return value if isinstance(value, bool) else default


class EmergencyCallerIds:
    def __init__(self, caller_ids: CallerIds, numbers: Numbers, configs: SystemConfigs):
        self.caller_ids = caller_ids
        self.numbers = numbers
        self.configs = configs

    async def choose(
        self, account_id: str, device: Doc | None, fallback: CallerId | None = None, *, local: bool = False
    ) -> EmergencyIdentity:
        """The identity of an emergency call from `device` (None: no calling device, the account's settings
        alone); `fallback` is what the caller sent; `local` calls leave through the account's own carriers."""
        settings = await self.configs.current(CATEGORY)
        emergency, outbound = await self.caller_ids.for_device_types(
            account_id, device or {}, ("emergency", "external"), fallback
        )
        enabled = {doc["_id"]: doc for doc in await self.numbers.emergency_enabled(account_id)}
        name = emergency.name or outbound.name
        if local:
            return self._identity(name, emergency.number, enabled, "the account's own carrier: not validated")
        if _flag(settings, "ensure_valid_emergency_cid", True):
            for number, why in ((emergency.number, "emergency"), (outbound.number, "outbound")):
                if number and normalize(number) in enabled:
                    return self._identity(name, number, enabled, f"the {why} caller ID has an E911 address")
            if enabled:
                first = next(iter(enabled))
                return self._identity(name, first, enabled, "the account's first number with an E911 address")
        elif emergency.number:
            return self._identity(name, emergency.number, enabled, "the emergency caller ID, not validated")
        if _flag(settings, "deny_invalid_emergency_cid", False):
            cause = setting(settings, "deny_emergency_bridge_cause", NOT_CONFIGURED)
            code = setting(settings, "deny_emergency_bridge_code", DENY_CODE)
            return EmergencyIdentity(
                CallerId(name, emergency.number),
                e911=False,
                refused=True,
                reason="no number with an E911 address in the account, and invalid emergency caller IDs are denied",
                code=code if isinstance(code, int) and 400 <= code < 700 else DENY_CODE,
                cause=cause if isinstance(cause, str) and cause else NOT_CONFIGURED,
            )
        default = setting(settings, "default_emergency_cid_number")
        number = default if isinstance(default, str) and default else emergency.number
        return self._identity(name, number, enabled, "no valid E911 caller ID: presenting the best one known")

    @staticmethod
    def _identity(name: str, number: str, enabled: dict[str, Doc], reason: str) -> EmergencyIdentity:
        held = enabled.get(normalize(number)) if number else None
        address = held.get("e911") if held else None
        return EmergencyIdentity(CallerId(name, number), held is not None, False, reason, address)

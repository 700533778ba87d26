"""The `emergency_bridge` event (KAZOO's stepswitch notification): every emergency call is recorded as an alert for
the calling account's admins and its reseller's admins (`/v2/accounts/{A}/alerts`), with who called, from which
device, the number dialled, the caller ID presented and the E911 address it stands for.

Further deliveries (the email of the notifications work, webhooks) subscribe with `EmergencyBridge.subscribe`: each
subscriber is handed the event and the stored alert, after the alert is stored; one that fails is logged and does
not keep the others or the call from going on.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass

from cloudpbx.accounts import devices
from cloudpbx.accounts.alerts import ALERT
from cloudpbx.accounts.documents import Documents, public
from cloudpbx.accounts.kinds import USER
from cloudpbx.accounts.tree import AccountDirectory
from cloudpbx.store import SYSTEM, Doc

log = logging.getLogger("cloudpbx.emergency")

CATEGORY = "emergency_bridge"


@dataclass(frozen=True)
class EmergencyCall:
    """What the event says of one emergency call."""

    account_id: str
    call_id: str
    dialled: str
    caller_id_name: str
    caller_id_number: str
    address: Doc | None  # the E911 address of the number presented (None: it has none)
    device_id: str | None = None
    device_name: str | None = None
    user_id: str | None = None
    user_name: str | None = None
    user_email: str | None = None
    test: bool = False  # a test call (933) that a carrier took by its `rules_test`
    refused: bool = False  # refused for want of an E911 number


Subscriber = Callable[[EmergencyCall, Doc], Awaitable[None]]


def _address_text(address: Doc | None) -> str:
    if not address:
        return "no E911 address"
    parts = [address.get(key) for key in ("street_address", "extended_address", "locality", "region", "postal_code")]
    return ", ".join(str(part) for part in parts if part)


def _message(event: EmergencyCall) -> str:
    who = event.user_name or event.device_name or "an unknown caller"
    verb = "was refused" if event.refused else "was placed"
    kind = "An emergency test call" if event.test else "An emergency call"
    return (
        f"{kind} to {event.dialled} {verb} by {who}, presenting {event.caller_id_number or 'no number'} "
        f"({_address_text(event.address)})."
    )


class EmergencyBridge:
    def __init__(self, documents: Documents, directory: AccountDirectory):
        self.documents = documents
        self.directory = directory
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        """Hand every later emergency call to `subscriber` (the notifications work's email goes here)."""
        self._subscribers.append(subscriber)

    async def event(self, account_id: str, device: Doc | None, call_id: str, dialled: str, **details) -> EmergencyCall:
        """The event of a call from `device` (None: no calling device), with its device and owner named."""
        owner_id = devices.owner_id(device) if device else None
        user = await self.documents.find(USER, account_id, owner_id) if owner_id else None
        full_name = " ".join(part for part in ((user or {}).get("first_name"), (user or {}).get("last_name")) if part)
        return EmergencyCall(
            account_id=account_id,
            call_id=call_id,
            dialled=dialled,
            device_id=device.get("_id") if device else None,
            device_name=device.get("name") if device else None,
            user_id=owner_id if user else None,
            user_name=full_name or None,
            user_email=(user or {}).get("email"),
            **details,
        )

    async def raised(self, event: EmergencyCall) -> Doc:
        """Store the alert for the account's and its reseller's admins, then hand it (as clients see it) to the
        subscribers."""
        audience = [event.account_id]
        node = await self.directory.get(event.account_id)
        if node is not None:
            reseller = await self.directory.reseller_id(node)
            if reseller != event.account_id:
                audience.append(reseller)
        stored = await self.documents.create(
            ALERT,
            SYSTEM,
            {
                "title": "Emergency test call" if event.test else "Emergency call",
                "message": _message(event),
                "category": CATEGORY,
                "level": "critical",
                "from": [{"type": "system", "value": CATEGORY}],
                "to": [{"type": account_id, "value": "admins"} for account_id in audience],
                "metadata": {key: value for key, value in asdict(event).items() if value is not None},
            },
        )
        alert = public(stored)
        for subscriber in self._subscribers:
            try:
                await subscriber(event, alert)
            except Exception:
                log.exception("emergency call %s: a subscriber of the emergency_bridge event failed", event.call_id)
        return alert

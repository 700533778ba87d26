"""The email of every emergency call (the `emergency_bridge` notification): a subscriber of the emergency_bridge
event, sent to the admins of the calling account and of its reseller, as the alert is addressed."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from cloudpbx import notify
from cloudpbx.callflow.emergency_bridge import EmergencyCall, Subscriber
from cloudpbx.store import Doc, Store

TEMPLATE = "emergency_bridge"


def _address(address: Doc | None) -> str:
    if not address:
        return "none"
    parts = [address.get(key) for key in ("street_address", "extended_address", "locality", "region", "postal_code")]
    return ", ".join(str(part) for part in parts if part)


def subscriber(store: Store) -> Subscriber:
    """Email the alert's audience (the accounts in its `to`) about the call, each with its own template."""

    async def email(event: EmergencyCall, alert: Doc) -> None:
        call: dict[str, Any] = {k: v for k, v in asdict(event).items() if isinstance(v, str | bool)}
        call |= {"address": _address(event.address), "message": alert.get("message", ""), "kind": alert.get("title")}
        calling = await store.find(event.account_id, event.account_id) or {}
        call["account_name"] = calling.get("name", "")
        audience = [target.get("type") for target in alert.get("to", []) if isinstance(target, dict)]
        for account_id in dict.fromkeys(a for a in audience if isinstance(a, str)):
            await notify.send(store, account_id, TEMPLATE, {"call": call})

    return email

"""Trunk and call limits of an account: the `limits` document, its defaults, and who may change it.

Only the account's provider changes them: its reseller, any ancestor when that reseller is the master, or a system
admin; never the account itself, which would otherwise raise its own trunks. The provider's fields (credit limits,
soft limits, `enabled`) are stored private (`pvt_*`, where service plans also put them) and shown read-only.
"""

from __future__ import annotations

from typing import Any

from cloudpbx.accounts import tree
from cloudpbx.accounts.documents import Kind, checked, client_fields, private, public, save_checked
from cloudpbx.accounts.system_configs import SystemConfigs
from cloudpbx.accounts.tree import AccountNode
from cloudpbx.errors import Forbidden
from cloudpbx.store import Doc, Store

DOC_ID = "limits"
LIMITS = Kind(name="limits", type="limits", fixed_id=DOC_ID)
REFUSAL = "Please contact your phone provider to add limits."
# What an account without a limits document gets (system_config `limits` overrides each): -1 unlimited, 0 none.
DEFAULTS: dict[str, Any] = {
    "allow_prepay": True,
    "inbound_trunks": 0,
    "outbound_trunks": 0,
    "twoway_trunks": 0,
    "burst_trunks": 0,
    "calls": -1,
    "resource_consuming_calls": -1,
    "authz_resource_types": [],
}
# The provider's fields, stored as `pvt_<name>` and their defaults; `reserve_amount` comes from service plans only.
PROVIDER_DEFAULTS: dict[str, Any] = {
    "allow_postpay": False,
    "max_postpay_amount": 0,
    "soft_limit_inbound": False,
    "soft_limit_outbound": False,
    "enabled": True,
}


async def stored(store: Store, account_id: str) -> Doc | None:
    """The account's limits document with its private fields, None when it has none."""
    doc = await store.find(account_id, DOC_ID)
    return doc if doc is not None and doc.get("pvt_type") == LIMITS.type else None


async def view(store: Store, configs: SystemConfigs, account_id: str) -> tuple[Doc, str | None]:
    """The limits as clients see them, with the provider's fields leaked read-only; and the document's revision."""
    doc = await stored(store, account_id)
    if doc is None:
        out = {key: await configs.value("limits", key, default) for key, default in DEFAULTS.items()}
        out["id"] = DOC_ID
        doc = {}
    else:
        out = public(doc)
    for key, default in PROVIDER_DEFAULTS.items():
        value = doc.get(f"pvt_{key}", await configs.value("limits", key, default))
        out[key] = _amount(value) if key == "max_postpay_amount" else value is True
    return out, doc.get("_rev")


def _amount(value: Any) -> int | float:
    return abs(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


async def may_change(store: Store, target: AccountNode, caller_account_id: str, superduper: bool) -> None:
    """Only the account's provider: its reseller, or any ancestor when that reseller is the master."""
    if superduper:
        return
    async with store.read() as tx:
        reseller = await tree.reseller_id(tx, target)
    master = target.tree[0] if target.tree else target.id
    ancestor = caller_account_id in target.tree
    if not ancestor or reseller not in (caller_account_id, master):
        raise Forbidden({"message": REFUSAL})


async def save(store: Store, account_id: str, data: Any) -> None:
    """Replace the public limits; the provider's fields sent are stored private, the others kept as they were."""
    doc = checked(LIMITS, client_fields(data))
    provided = {f"pvt_{key}": doc.pop(key) for key in PROVIDER_DEFAULTS if key in doc}
    if "pvt_max_postpay_amount" in provided:  # KAZOO keeps it as a floor below zero
        provided["pvt_max_postpay_amount"] = -abs(provided["pvt_max_postpay_amount"])
    async with store.write() as tx:
        old = await tx.find(account_id, DOC_ID)
        if old is not None and old.get("pvt_type") == LIMITS.type:
            doc.update(private(old))
        else:
            old = None
            doc.update(_id=DOC_ID, pvt_type=LIMITS.type, pvt_account_id=account_id, pvt_vsn="1")
        doc.update(provided)
        await save_checked(tx, LIMITS, account_id, doc, old)

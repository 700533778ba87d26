"""Trunk and call limits of an account: the `limits` document, its defaults, and who may change it.

Credit limits (`pvt_allow_postpay`, `pvt_max_postpay_amount`) are private: clients read them, never write them.
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
LEAKED = ("allow_postpay", "max_postpay_amount")


async def _stored(store: Store, account_id: str) -> Doc | None:
    doc = await store.find(account_id, DOC_ID)
    return doc if doc is not None and doc.get("pvt_type") == LIMITS.type else None


async def view(store: Store, configs: SystemConfigs, account_id: str) -> tuple[Doc, str | None]:
    """The limits as clients see them, with the credit limits leaked read-only; and the document's revision."""
    doc = await _stored(store, account_id)
    if doc is None:
        out = {key: await configs.value("limits", key, default) for key, default in DEFAULTS.items()}
        out["id"] = DOC_ID
        doc = {}
    else:
        out = public(doc)
    allow_postpay = doc.get("pvt_allow_postpay", await configs.value("limits", "allow_postpay", False))
    out["allow_postpay"] = allow_postpay is True
    out["max_postpay_amount"] = abs(doc.get("pvt_max_postpay_amount", 0) or 0)
    return out, doc.get("_rev")


async def may_change(store: Store, target: AccountNode, caller_account_id: str, superduper: bool) -> None:
    """Only the target's reseller changes its limits, or anyone allowed on it when that reseller is the master."""
    if superduper:
        return
    async with store.read() as tx:
        reseller = await tree.reseller_id(tx, target)
    master = target.tree[0] if target.tree else target.id
    if reseller not in (caller_account_id, master):
        raise Forbidden({"message": "Please contact your phone provider to add limits."})


async def save(store: Store, account_id: str, data: Any) -> None:
    """Replace the public limits; private credit limits are kept, and the leaked copies are ignored."""
    fields = {k: v for k, v in client_fields(data).items() if k not in LEAKED}
    doc = checked(LIMITS, fields)
    async with store.write() as tx:
        old = await tx.find(account_id, DOC_ID)
        if old is not None and old.get("pvt_type") == LIMITS.type:
            doc.update(private(old))
        else:
            old = None
            doc.update(_id=DOC_ID, pvt_type=LIMITS.type, pvt_account_id=account_id, pvt_vsn="1")
        await save_checked(tx, LIMITS, account_id, doc, old)

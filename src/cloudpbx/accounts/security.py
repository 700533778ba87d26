"""An account's login settings (KAZOO's security API): `auth_modules` per login method, kept as the account config
category `crossbar.auth`, inherited from the ancestors up to the reseller, then the system config and its schema.

A login method's `multi_factor` may point at a provider configuration (`configuration_id`) of the account itself or
of one of its ancestors (`account_id`), or of the system (no `account_id`); never at another tenant's.
"""

from __future__ import annotations

import copy
from typing import Any

from cloudpbx.accounts import multi_factor
from cloudpbx.accounts.account_configs import AccountConfigs, doc_id, settings_of
from cloudpbx.accounts.system_configs import SystemConfigs
from cloudpbx.accounts.tree import AccountNode
from cloudpbx.errors import Invalid, Missing
from cloudpbx.store import SYSTEM, Store

CATEGORY = "crossbar.auth"
MODULES = ["cb_api_auth", "cb_auth", "cb_ip_auth", "cb_user_auth"]


async def available(system: SystemConfigs) -> dict:
    return {"available_auth_modules": await system.value(CATEGORY, "available_auth_methods", MODULES)}


async def _with_metadata(store: Store, settings: dict) -> dict:
    """Each login method's multi factor setting with the `name` and `provider_name` it points at."""
    out = copy.deepcopy(settings)
    for module in (out.get("auth_modules") or {}).values():
        mfa = module.get("multi_factor") if isinstance(module, dict) else None
        if isinstance(mfa, dict):
            found = await multi_factor.metadata(store, mfa.get("account_id"), mfa.get("configuration_id"))
            if found:
                mfa["_read_only"] = found
    return out


async def _check_references(store: Store, node: AccountNode, data: Any) -> None:
    modules = data.get("auth_modules") if isinstance(data, dict) else None
    for name, module in (modules or {}).items() if isinstance(modules, dict) else ():
        mfa = module.get("multi_factor") if isinstance(module, dict) else None
        if not isinstance(mfa, dict) or not isinstance(mfa.get("configuration_id"), str):
            continue
        owner = mfa.get("account_id")
        path = f"auth_modules.{name}.multi_factor"
        if owner is not None and owner != node.id and owner not in node.tree:
            raise Invalid.field(
                f"{path}.account_id",
                "forbidden",
                "only the account itself or one of its ancestors may hold the configuration",
            )
        try:
            await multi_factor.get(store, owner if isinstance(owner, str) else SYSTEM, mfa["configuration_id"])
        except Missing:
            raise Invalid.field(
                f"{path}.configuration_id",
                "not_found",
                "no such multi factor configuration",
                value=mfa["configuration_id"],
            ) from None


class Security:
    def __init__(self, store: Store, system: SystemConfigs):
        self.store = store
        self.configs = AccountConfigs(store, system)

    async def read(self, node: AccountNode) -> dict:
        own = settings_of(await self.configs.own(node, CATEGORY))
        inherited = await self.configs.inherited(node, CATEGORY, hierarchy=True)
        return {
            "account": await _with_metadata(self.store, own),
            "inherited_config": await _with_metadata(self.store, {"auth_modules": inherited.get("auth_modules")}),
        }

    async def save(self, node: AccountNode, data: Any, patch: bool) -> dict:
        await _check_references(self.store, node, data)
        saved = await self.configs.save(node, CATEGORY, data, patch=patch, hierarchy=True, whole=True)
        return {**await _with_metadata(self.store, settings_of(saved)), "id": doc_id(CATEGORY)}

    async def delete(self, node: AccountNode) -> dict:
        old = await self.configs.delete(node, CATEGORY)
        if old is None:
            raise Missing(doc_id(CATEGORY))
        return {**settings_of(old), "id": doc_id(CATEGORY)}

"""The console apps (the apps store): what exists, which accounts may use them, which users see them."""

from __future__ import annotations

from cloudpbx.accounts.tree import AccountNode
from cloudpbx.store import Doc, Store, Tx

CATALOG: list[dict] = [
    {"id": "myaccount", "name": "myaccount", "label": "Control Center", "tags": ["reseller", "developer"]},
    {"id": "accounts", "name": "accounts", "label": "Accounts Manager", "tags": ["reseller"], "admins_only": True},
    {"id": "voip", "name": "voip", "label": "SmartPBX", "tags": ["reseller", "developer"]},
    {"id": "callflows", "name": "callflows", "label": "Callflows", "tags": ["developer"]},
    {"id": "numbers", "name": "numbers", "label": "Numbers Manager", "tags": ["reseller"]},
    {"id": "pbxs", "name": "pbxs", "label": "PBX Connector", "tags": ["reseller"]},
    {"id": "carriers", "name": "carriers", "label": "Carriers", "tags": ["reseller"], "admins_only": True},
    {"id": "webhooks", "name": "webhooks", "label": "Webhooks", "tags": ["developer"]},
]
BY_ID = {app["id"]: app for app in CATALOG}
CONFIG_ID = "apps_store"  # one document per account: installs and the blacklist it imposes below itself


async def config(tx: Tx, account_id: str) -> Doc:
    return await tx.find(account_id, CONFIG_ID) or {}


async def blocked(tx: Tx, node: AccountNode) -> set[str]:
    """Apps an ancestor blacklisted for its descendants (the account's own blacklist binds only those below it)."""
    ids: set[str] = set()
    for ancestor_id in node.tree:
        ids.update((await config(tx, ancestor_id)).get("blacklist", []))
    return ids


def installed_entry(app: dict, install: dict | None) -> dict:
    entry = {k: v for k, v in app.items() if k != "admins_only"}
    entry["api_url"] = "/v2/"
    entry["source_url"] = f"apps/{app['name']}"
    entry["allowed_users"] = (install or {}).get("allowed_users", "admins" if app.get("admins_only") else "all")
    entry["users"] = (install or {}).get("users", [])
    entry["installed"] = install is not None or not app.get("admins_only", False)
    return entry


async def available(store: Store, node: AccountNode) -> list[dict]:
    async with store.read() as tx:
        cfg = await config(tx, node.id)
        banned = await blocked(tx, node)
    installs = cfg.get("apps", {})
    return [installed_entry(app, installs.get(app["id"])) for app in CATALOG if app["id"] not in banned]


def visible_to(entry: dict, user: Doc | None) -> bool:
    if not entry["installed"]:
        return False
    if user is None or entry["allowed_users"] == "all":
        return True
    if entry["allowed_users"] == "admins":
        return user.get("priv_level") == "admin"
    return any(u.get("id") == user["_id"] for u in entry["users"])


async def for_user(store: Store, node: AccountNode, user: Doc | None) -> list[dict]:
    """The apps a login shows: available to the account and allowed for this user."""
    return [
        {k: entry[k] for k in ("id", "name", "label", "api_url", "source_url", "allowed_users", "users")}
        for entry in await available(store, node)
        if visible_to(entry, user)
    ]

"""The console apps (the apps store): what exists, which accounts may use them, which users see them.

Each account keeps one `apps_store` document: `apps` (its installs: app id → allowed_users and users) and
`blacklist` (apps its descendants may not use; an account's own blacklist does not bind itself). Until an account
changes its installs, every app that is not for administrators only counts as installed for all users.
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable

from cloudpbx import schemas
from cloudpbx.accounts.tree import AccountNode
from cloudpbx.errors import Conflicting, Failure, Forbidden, Invalid, Missing
from cloudpbx.store import Conflict, Doc, Store, Tx

def _app(name: str, label: str, tags: list[str], description: str, admins_only: bool = False) -> dict:
    """A catalog entry; its id looks like a document id (as KAZOO's do), so it never reads as a noun in a path."""
    app_id = hashlib.md5(f"app:{name}".encode()).hexdigest()
    return {"id": app_id, "name": name, "label": label, "tags": tags, "description": description,
            "admins_only": admins_only}


CATALOG: list[dict] = [
    _app("myaccount", "Control Center", ["reseller", "developer"], "Account settings, users' profiles and billing"),
    _app("accounts", "Accounts Manager", ["reseller"], "Create and manage sub-accounts", admins_only=True),
    _app("voip", "SmartPBX", ["reseller", "developer"],
         "A hosted PBX: users, devices, numbers and the main number's routing"),
    _app("callflows", "Callflows", ["developer"], "Build call routing trees by hand"),
    _app("numbers", "Numbers Manager", ["reseller"], "Buy, port and assign phone numbers"),
    _app("pbxs", "PBX Connector", ["reseller"], "Connect an on-premise PBX over SIP trunks"),
    _app("carriers", "Carriers", ["reseller"], "Choose the carriers that route outbound calls", admins_only=True),
    _app("webhooks", "Webhooks", ["developer"], "Send call events to HTTP endpoints"),
]
BY_ID = {app["id"]: app for app in CATALOG}
CONFIG_ID = "apps_store"
CONFIG_TYPE = "apps_store"


class AppState(Failure):
    """400: installing an installed app, or changing one that is not installed (Crossbar's wording)."""

    code = 400


async def config(tx: Tx, account_id: str) -> Doc:
    return await tx.find(account_id, CONFIG_ID) or {}


async def blocked(tx: Tx, node: AccountNode) -> set[str]:
    """Apps an ancestor blacklisted for its descendants (the account's own blacklist binds only those below it)."""
    ids: set[str] = set()
    for ancestor_id in node.tree:
        ids.update((await config(tx, ancestor_id)).get("blacklist", []))
    return ids


def installs(cfg: Doc) -> dict[str, dict]:
    """The account's installs; the defaults until it has changed any."""
    if "apps" in cfg:
        return cfg["apps"]
    return {app["id"]: {"name": app["name"], "allowed_users": "all", "users": []}
            for app in CATALOG if not app["admins_only"]}


def entry(app: dict, install: dict | None) -> dict:
    """An app as the store lists it; `allowed_users` (and `users`) are present only when it is installed."""
    out = {
        "id": app["id"], "name": app["name"], "label": app["label"], "tags": list(app["tags"]),
        "i18n": {"en-US": {"label": app["label"], "description": app["description"]}},
        "api_url": "/v2/", "source_url": f"apps/{app['name']}",
    }
    if install is not None:
        out.update(allowed_users=install["allowed_users"], users=install["users"])
    return out


async def available(store: Store, node: AccountNode) -> list[dict]:
    """Every app the account may use (its ancestors' blacklists removed), with its install state."""
    async with store.read() as tx:
        current = installs(await config(tx, node.id))
        banned = await blocked(tx, node)
    return [entry(app, current.get(app["id"])) for app in CATALOG if app["id"] not in banned]


async def app(store: Store, node: AccountNode, app_id: str) -> dict:
    for found in await available(store, node):
        if found["id"] == app_id:
            return found
    raise Missing(app_id)


def visible_to(found: dict, user: Doc | None) -> bool:
    if "allowed_users" not in found:
        return False
    if user is None or found["allowed_users"] == "all":
        return True
    if found["allowed_users"] == "admins":
        return user.get("priv_level") == "admin"
    return any(u.get("id") == user["_id"] for u in found["users"])


async def for_user(store: Store, node: AccountNode, user: Doc | None) -> list[dict]:
    """The apps a login shows: available to the account and allowed for this user."""
    return [
        {k: found[k] for k in ("id", "name", "label", "api_url", "source_url", "allowed_users", "users")}
        for found in await available(store, node)
        if visible_to(found, user)
    ]


def _install_record(app_id: str, data) -> dict:
    if not isinstance(data, dict):
        raise Invalid.field("data", "type", "Value did not match type(s): object")
    filled, errors = schemas.validate("apps_store", data)
    if errors:
        raise Invalid(errors)
    users = [{"id": u} if isinstance(u, str) else {"id": u.get("id")} for u in filled["users"]]
    return {"name": BY_ID[app_id]["name"], "allowed_users": filled["allowed_users"], "users": users}


Change = Callable[[Doc, set[str]], Any]  # change(config document, apps blacklisted above) -> the reply


async def _change(store: Store, node: AccountNode, change: Change) -> Any:
    """Apply `change` to the account's apps_store document in one transaction."""
    async with store.write() as tx:
        cfg = await tx.find(node.id, CONFIG_ID) or {"_id": CONFIG_ID, "pvt_type": CONFIG_TYPE,
                                                     "pvt_account_id": node.id}
        banned = await blocked(tx, node)
        result = change(cfg, banned)
        try:
            await tx.save(cfg)
        except Conflict as exc:
            raise Conflicting() from exc
    return result


def _modifiable(app_id: str, banned: set[str]) -> None:
    if app_id not in BY_ID or app_id in banned:
        raise Forbidden({"message": f"the app {app_id} is not available to this account", "details": app_id})


async def install(store: Store, node: AccountNode, app_id: str, data) -> dict:
    record = _install_record(app_id, data) if app_id in BY_ID else None

    def change(cfg: Doc, banned: set[str]) -> dict:
        _modifiable(app_id, banned)
        current = installs(cfg)
        if app_id in current:
            raise AppState(message="Application already installed")
        cfg["apps"] = {**current, app_id: record}
        return record

    return await _change(store, node, change)


async def update(store: Store, node: AccountNode, app_id: str, data) -> dict:
    record = _install_record(app_id, data) if app_id in BY_ID else None

    def change(cfg: Doc, banned: set[str]) -> dict:
        _modifiable(app_id, banned)
        current = installs(cfg)
        if app_id not in current:
            raise AppState(message="Application is not installed")
        cfg["apps"] = {**current, app_id: record}
        return record

    return await _change(store, node, change)


async def uninstall(store: Store, node: AccountNode, app_id: str) -> dict:
    def change(cfg: Doc, banned: set[str]) -> dict:
        _modifiable(app_id, banned)
        current = dict(installs(cfg))
        if current.pop(app_id, None) is None:
            raise AppState(message="Application is not installed")
        cfg["apps"] = current
        return {}

    return await _change(store, node, change)


async def blacklist(store: Store, account_id: str) -> list[str]:
    async with store.read() as tx:
        return list((await config(tx, account_id)).get("blacklist", []))


def _checked_blacklist(data) -> list[str]:
    ids = data.get("blacklist", []) if isinstance(data, dict) else None
    if not isinstance(ids, list):
        raise Invalid.field("blacklist", "type", "Value did not match type(s): array", target="array")
    errors = {f"blacklist.{i}": {"enum": {"message": "Unknown app", "value": app_id}}
              for i, app_id in enumerate(ids) if not isinstance(app_id, str) or app_id not in BY_ID}
    if errors:
        raise Invalid(errors)
    return sorted(set(ids))


async def set_blacklist(store: Store, node: AccountNode, data) -> list[str]:
    """Which apps the account's descendants may not use."""
    ids = _checked_blacklist(data)

    def change(cfg: Doc, banned: set[str]) -> list[str]:
        cfg["blacklist"] = ids
        return ids

    return await _change(store, node, change)

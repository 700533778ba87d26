"""The console apps (the apps store): what exists, which accounts may use them, which users see them.

The catalogue is the built-in apps (SmartPBX first, Control Center never: it is part of the UI core) overlaid with
the apps an operator registered from a Monster UI build (`sup crossbar_maintenance init_apps`), which are `app`
documents in the system partition with their icon and screenshots as attachments. An app's `api_url` is the one it
was registered with, else `{public_url}/v2/` when the platform knows its public URL, else absent (Monster UI then
uses its own `api.default`).

Each account keeps one `apps_store` document: `apps` (its installs: app id → allowed_users and users) and
`blacklist` (apps its descendants may not use; an account's own blacklist does not bind itself). Until an account
changes its installs, every app that is not for administrators only counts as installed for all users.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from cloudpbx import schemas
from cloudpbx.accounts.tree import AccountNode
from cloudpbx.errors import Conflicting, Failure, Forbidden, Invalid, Missing
from cloudpbx.store import SYSTEM, Attachment, Conflict, Doc, Store, Tx

APP_TYPE = "app"
MAX_SCREENSHOTS = schemas.load(APP_TYPE)["properties"]["screenshots"]["maxItems"]


def id_of(name: str) -> str:
    """Ids look like document ids (as KAZOO's do), so they never read as a noun, and stay the same when an operator
    registers an app the catalogue already has, so installs keep pointing at it."""
    return hashlib.md5(f"app:{name}".encode()).hexdigest()


def _app(name: str, label: str, tags: list[str], description: str, admins_only: bool = False) -> dict:
    return {
        "id": id_of(name),
        "name": name,
        "label": label,
        "tags": tags,
        "description": description,
        "admins_only": admins_only,
    }


BUILT_IN: list[dict] = [
    _app(
        "voip",
        "SmartPBX",
        ["reseller", "developer"],
        "A hosted PBX: users, devices, numbers and the main number's routing",
    ),
    _app("callflows", "Callflows", ["developer"], "Build call routing trees by hand"),
    _app("numbers", "Numbers Manager", ["reseller"], "Buy, port and assign phone numbers"),
    _app("pbxs", "PBX Connector", ["reseller"], "Connect an on-premise PBX over SIP trunks"),
    _app("webhooks", "Webhooks", ["developer"], "Send call events to HTTP endpoints"),
    _app("accounts", "Accounts Manager", ["reseller"], "Create and manage sub-accounts", admins_only=True),
    _app("carriers", "Carriers", ["reseller"], "Choose the carriers that route outbound calls", admins_only=True),
]
BUILT_IN_NAMES = {app["name"] for app in BUILT_IN}
CONFIG_ID = "apps_store"
CONFIG_TYPE = "apps_store"


def _registered(doc: Doc, built_in: dict | None) -> dict:
    """A registered app as a catalogue entry; what its metadata leaves out comes from the built-in entry."""
    base = built_in or {"label": doc["name"], "tags": [], "description": "", "admins_only": False}
    english = (doc.get("i18n") or {}).get("en-US") or {}
    entry = {
        **base,
        "id": doc["_id"],
        "name": doc["name"],
        "label": english.get("label") or base["label"],
        "description": english.get("description") or base["description"],
        "tags": doc.get("tags", base["tags"]),
        "i18n": doc.get("i18n"),
    }
    for key in (
        "api_url",
        "source_url",
        "icon",
        "screenshots",
        "author",
        "version",
        "license",
        "price",
        "phase",
        "urls",
        "masqueradable",
    ):
        if key in doc:
            entry[key] = doc[key]
    return entry


async def catalogue(tx: Tx) -> list[dict]:
    """The built-in apps in their order, each replaced by its registered version, then the other registered apps."""
    registered = {doc["name"]: doc for doc in await tx.list(SYSTEM, APP_TYPE)}
    apps = [_registered(registered[app["name"]], app) if app["name"] in registered else app for app in BUILT_IN]
    extra = sorted(name for name in registered if name not in BUILT_IN_NAMES)
    return apps + [_registered(registered[name], None) for name in extra]


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


def installs(cfg: Doc, apps: list[dict]) -> dict[str, dict]:
    """The account's installs; the defaults until it has changed any."""
    if "apps" in cfg:
        return cfg["apps"]
    return {
        app["id"]: {"name": app["name"], "allowed_users": "all", "users": []} for app in apps if not app["admins_only"]
    }


def entry(app: dict, install: dict | None, public_url: str | None) -> dict:
    """An app as the store lists it; `allowed_users` (and `users`) are present only when it is installed."""
    out = {
        "id": app["id"],
        "name": app["name"],
        "label": app["label"],
        "tags": list(app["tags"]),
        "i18n": app.get("i18n") or {"en-US": {"label": app["label"], "description": app["description"]}},
        "source_url": app.get("source_url", f"apps/{app['name']}"),
    }
    api_url = app.get("api_url") or (f"{public_url.rstrip('/')}/v2/" if public_url else None)
    if api_url:
        out["api_url"] = api_url
    for key in ("icon", "screenshots", "author", "version", "license", "price", "phase", "urls", "masqueradable"):
        if key in app:
            out[key] = app[key]
    if install is not None:
        out.update(allowed_users=install["allowed_users"], users=install["users"])
    return out


async def available(store: Store, node: AccountNode, public_url: str | None = None) -> list[dict]:
    """Every app the account may use (its ancestors' blacklists removed), with its install state."""
    async with store.read() as tx:
        apps = await catalogue(tx)
        current = installs(await config(tx, node.id), apps)
        banned = await blocked(tx, node)
    return [entry(app, current.get(app["id"]), public_url) for app in apps if app["id"] not in banned]


async def app(store: Store, node: AccountNode, app_id: str, public_url: str | None = None) -> dict:
    for found in await available(store, node, public_url):
        if found["id"] == app_id:
            return found
    raise Missing(app_id)


async def image(store: Store, node: AccountNode, app_id: str, index: int | None = None) -> Attachment:
    """An app's icon (index None) or its screenshot number `index`, as registered; only for apps the account may use."""
    found = await app(store, node, app_id)
    shots = found.get("screenshots", [])
    name = found.get("icon") if index is None else (shots[index] if 0 <= index < len(shots) else None)
    if not name:
        raise Missing(app_id)
    async with store.read() as tx:
        stored = await tx.get_attachment(SYSTEM, app_id, name)
    if stored is None:
        raise Missing(name)
    return stored


def visible_to(found: dict, user: Doc | None) -> bool:
    if "allowed_users" not in found:
        return False
    if user is None or found["allowed_users"] == "all":
        return True
    if found["allowed_users"] == "admins":
        return user.get("priv_level") == "admin"
    return any(u.get("id") == user["_id"] for u in found["users"])


async def for_user(store: Store, node: AccountNode, user: Doc | None, public_url: str | None = None) -> list[dict]:
    """The apps a login shows: available to the account and allowed for this user."""
    return [
        {k: found[k] for k in ("id", "name", "label", "api_url", "source_url", "allowed_users", "users") if k in found}
        for found in await available(store, node, public_url)
        if visible_to(found, user)
    ]


def _install_record(name: str, data) -> dict:
    if not isinstance(data, dict):
        raise Invalid.field("data", "type", "Value did not match type(s): object")
    filled, errors = schemas.validate("apps_store", data)
    if errors:
        raise Invalid(errors)
    users = [{"id": u} if isinstance(u, str) else {"id": u.get("id")} for u in filled["users"]]
    return {"name": name, "allowed_users": filled["allowed_users"], "users": users}


Change = Callable[[Doc, dict[str, dict]], Any]  # change(config document, apps the account may use by id) -> reply


async def _change(store: Store, node: AccountNode, change: Change) -> Any:
    """Apply `change` to the account's apps_store document in one transaction."""
    async with store.write() as tx:
        cfg = await tx.find(node.id, CONFIG_ID) or {
            "_id": CONFIG_ID,
            "pvt_type": CONFIG_TYPE,
            "pvt_account_id": node.id,
        }
        banned = await blocked(tx, node)
        usable = {app["id"]: app for app in await catalogue(tx) if app["id"] not in banned}
        result = change(cfg, usable)
        try:
            await tx.save(cfg)
        except Conflict as exc:
            raise Conflicting() from exc
    return result


def _modifiable(app_id: str, usable: dict[str, dict]) -> dict:
    if app_id not in usable:
        raise Forbidden({"message": f"the app {app_id} is not available to this account", "details": app_id})
    return usable[app_id]


async def install(store: Store, node: AccountNode, app_id: str, data) -> dict:
    def change(cfg: Doc, usable: dict[str, dict]) -> dict:
        record = _install_record(_modifiable(app_id, usable)["name"], data)
        current = installs(cfg, list(usable.values()))
        if app_id in current:
            raise AppState(message="Application already installed")
        cfg["apps"] = {**current, app_id: record}
        return record

    return await _change(store, node, change)


async def update(store: Store, node: AccountNode, app_id: str, data) -> dict:
    def change(cfg: Doc, usable: dict[str, dict]) -> dict:
        record = _install_record(_modifiable(app_id, usable)["name"], data)
        current = installs(cfg, list(usable.values()))
        if app_id not in current:
            raise AppState(message="Application is not installed")
        cfg["apps"] = {**current, app_id: record}
        return record

    return await _change(store, node, change)


async def uninstall(store: Store, node: AccountNode, app_id: str) -> dict:
    def change(cfg: Doc, usable: dict[str, dict]) -> dict:
        _modifiable(app_id, usable)
        current = dict(installs(cfg, list(usable.values())))
        if current.pop(app_id, None) is None:
            raise AppState(message="Application is not installed")
        cfg["apps"] = current
        return {}

    return await _change(store, node, change)


async def blacklist(store: Store, account_id: str) -> list[str]:
    async with store.read() as tx:
        return list((await config(tx, account_id)).get("blacklist", []))


def _checked_blacklist(data, known: set[str]) -> list[str]:
    ids = data.get("blacklist", []) if isinstance(data, dict) else None
    if not isinstance(ids, list):
        raise Invalid.field("blacklist", "type", "Value did not match type(s): array", target="array")
    errors = {
        f"blacklist.{i}": {"enum": {"message": "Unknown app", "value": app_id}}
        for i, app_id in enumerate(ids)
        if not isinstance(app_id, str) or app_id not in known
    }
    if errors:
        raise Invalid(errors)
    return sorted(set(ids))


async def set_blacklist(store: Store, node: AccountNode, data) -> list[str]:
    """Which apps the account's descendants may not use."""
    async with store.read() as tx:
        known = {app["id"] for app in await catalogue(tx)}
    ids = _checked_blacklist(data, known)

    def change(cfg: Doc, usable: dict[str, dict]) -> list[str]:
        cfg["blacklist"] = ids
        return ids

    return await _change(store, node, change)


def _app_doc(metadata: dict, api_url: str | None, old: Doc | None) -> Doc:
    """The stored app: the metadata's public fields, with `api_url` set from the command (or dropped, as KAZOO does),
    without `source_url` (the UI loads an app from its own build)."""
    doc = {
        k: v
        for k, v in metadata.items()
        if not k.startswith(("_", "pvt_")) and k not in ("id", "source_url", "api_url")
    }
    if api_url:
        doc["api_url"] = api_url
    doc.update(_id=id_of(metadata["name"]), pvt_type=APP_TYPE, pvt_account_id=SYSTEM)
    if old is not None:
        doc["_rev"], doc["pvt_created"] = old["_rev"], old["pvt_created"]
    return doc


async def register(store: Store, metadata: dict, api_url: str | None, images: dict[str, tuple[str, bytes]]) -> Doc:
    """Register (or refresh) an app from a UI build's metadata, with its images (name → (content type, bytes)):
    one transaction, so an app is never left without the images its metadata names."""
    errors = schemas.validate("app", metadata)[1]
    if errors:
        raise Invalid(errors)
    async with store.write() as tx:
        old = await tx.find(SYSTEM, id_of(metadata["name"]))
        try:
            saved = await tx.save(_app_doc(metadata, api_url, old))
        except Conflict as exc:
            raise Conflicting() from exc
        await tx.delete_attachment(SYSTEM, saved["_id"])
        for name, (content_type, content) in images.items():
            await tx.put_attachment(SYSTEM, saved["_id"], name, content_type, content)
    return saved

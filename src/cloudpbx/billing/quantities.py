"""What an account holds, counted as service plan quantities (KAZOO's automatic categories): users by privilege
level, devices by type, numbers by classifier and their features, trunk limits, mailboxes, fax boxes,
conferences, whitelabel and installed apps. Each count is one grouped query over the account's tree
(`store/quantities.py`), which also gives the cascade quantities (the account and every account below it)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import orjson

from cloudpbx.accounts.apps import CONFIG_ID
from cloudpbx.accounts.tree import AccountNode
from cloudpbx.billing.invoice import Quantities
from cloudpbx.numbers import classifiers
from cloudpbx.store import Doc, Store
from cloudpbx.store import quantities as counts

# document type -> (category, item of the grouping value or the fixed item)
DOCUMENTS: dict[str, tuple[str, Callable[[str | None], str]]] = {
    "user": ("users", lambda value: value or "user"),
    "device": ("devices", lambda value: value or "sip_device"),
    "vmbox": ("voicemails", lambda _: "mailbox"),
    "faxbox": ("faxes", lambda _: "mailbox"),
    "conference": ("conferences", lambda _: "conference"),
    "whitelabel": ("branding", lambda _: "whitelabel"),
}
# API noun -> document type, for the changes the 402 handshake prices
NOUNS = {"users": "user", "devices": "device", "vmboxes": "vmbox", "faxboxes": "faxbox", "conferences": "conference"}


@dataclass(frozen=True)
class Counted:
    own: Quantities
    cascade: Quantities


def item_of(doc_type: str, doc: Doc) -> tuple[str, str] | None:
    """The (category, item) one document counts as, or None when it counts as nothing."""
    found = DOCUMENTS.get(doc_type)
    if found is None:
        return None
    field = counts.GROUPED_BY.get(doc_type)
    value = doc.get(field) if field else None
    return found[0], found[1](value if isinstance(value, str) else None)


def number_item(number: str, rules: list[dict]) -> tuple[str, str]:
    matched = classifiers.match(number, rules)
    return "phone_numbers", matched["name"] if matched else "unknown"


def _set(quantities: Counted, account_id: str, own_id: str, category: str, item: str, n: int) -> None:
    for target in (quantities.cascade, quantities.own) if account_id == own_id else (quantities.cascade,):
        items = target.setdefault(category, {})
        items[item] = items.get(item, 0) + n


def _present(value: object) -> bool:
    return value not in (None, "", 0, False, "false", "0", "null", "{}")


async def count(store: Store, node: AccountNode, rules: list[dict], tree: bool = True) -> Counted:
    """The account's own quantities and its tree's (cascade), by category and item; without `tree` only the
    account's own are counted (cascade then holds the same), which is all a plan without cascade items needs."""
    found = Counted({}, {})
    async with store.read() as tx:
        docs = await counts.documents(tx, node.path, tree)
        numbers = await counts.numbers(tx, node.path, tree)
        trunks = await counts.trunks(tx, node.path, tree)
        apps = await counts.app_installs(tx, node.path, tree, CONFIG_ID)
    for account_id, doc_type, value, n in docs:
        category, namer = DOCUMENTS[doc_type]
        _set(found, account_id, node.id, category, namer(value if isinstance(value, str) and value else None), n)
    for account_id, number, features in numbers:
        _set(found, account_id, node.id, *number_item(number, rules), 1)
        for feature, stored in features.items():
            if _present(stored):
                _set(found, account_id, node.id, "number_services", feature, 1)
    for account_id, fields in trunks:
        for field, trunk_count in fields.items():
            if str(trunk_count).isdigit() and int(str(trunk_count)) > 0:
                _set(found, account_id, node.id, "limits", field, int(str(trunk_count)))
    for account_id, raw in apps:
        installed = orjson.loads(raw) if raw else {}
        for install in installed.values() if isinstance(installed, dict) else ():
            app = install.get("name") if isinstance(install, dict) else None
            if isinstance(app, str) and app:
                _set(found, account_id, node.id, "account_apps", app, 1)
    return found


def change(doc_type: str, old: Doc | None, new: Doc) -> dict[tuple[str, str], int]:
    """What replacing `old` (None: creating) by `new` adds to and takes from the quantities."""
    out: dict[tuple[str, str], int] = {}
    before, after = (item_of(doc_type, old) if old is not None else None), item_of(doc_type, new)
    if before == after:
        return out
    for item, delta in ((before, -1), (after, 1)):
        if item is not None:
            out[item] = out.get(item, 0) + delta
    return out


def trunk_change(old: Doc | None, new: Doc) -> dict[tuple[str, str], int]:
    """What new limits add to the `limits` items (trunks a limits document sets; absent is none)."""
    out = {}
    for field in counts.TRUNK_FIELDS:
        before, after = (old or {}).get(field, 0), new.get(field, 0)
        if isinstance(before, int) and isinstance(after, int) and after != before:
            out[("limits", field)] = max(after, 0) - max(before, 0)
    return out


def features(doc: Doc) -> set[str]:
    """The billable number features a number document has on (as the counting queries read them)."""
    found = set()
    for name, path in counts.FEATURE_FIELDS.items():
        value: object = doc
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if _present(value) and value != {}:
            found.add(name)
    return found

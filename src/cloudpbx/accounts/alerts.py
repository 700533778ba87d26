"""Notices shown in the portal: platform-wide documents that system administrators raise.

Each `to` entry names an audience (`type`: `all`, `resellers`, an account id, or `descendants` with the account in
`value`) and, except for descendants, who in it (`value`: `all`/`users`, `admins`, or one user id).
"""

from __future__ import annotations

from cloudpbx.accounts.kinds import KINDS
from cloudpbx.accounts.tree import AccountNode
from cloudpbx.store import Doc, gregorian_now

ALERT = KINDS["alerts"]
EVERYONE = ("all", "users")


def _member(value, owner_id: str | None, is_admin: bool) -> bool:
    return value in EVERYONE or (value == "admins" and is_admin) or (owner_id is not None and value == owner_id)


def _addressed(target: dict, node: AccountNode, owner_id: str | None, is_admin: bool) -> bool:
    kind, value = target.get("type"), target.get("value")
    if kind == "descendants":
        return value in node.tree
    audience = kind == "all" or kind == node.id or (kind == "resellers" and node.reseller)
    return audience and _member(value, owner_id, is_admin)


def visible(alert: Doc, node: AccountNode, owner_id: str | None, is_admin: bool) -> bool:
    """Whether the alert is addressed to this account and user, and not expired."""
    expires = alert.get("expiration_date")
    if isinstance(expires, int) and expires < gregorian_now():
        return False
    return any(isinstance(t, dict) and _addressed(t, node, owner_id, is_admin) for t in alert.get("to", []))

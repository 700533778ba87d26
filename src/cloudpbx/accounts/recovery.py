"""Password recovery: a reset id for a user, then a fresh login (and optionally a new password) with it."""

from __future__ import annotations

import hashlib
import secrets

from cloudpbx import notify
from cloudpbx.accounts.credentials import apply_password
from cloudpbx.accounts.kinds import USER
from cloudpbx.accounts.login import account_usable
from cloudpbx.errors import Invalid
from cloudpbx.store import Doc, Store, gregorian_now, is_id, keys, login_throttle

RESET_TTL_S = 86400


def unknown_reset() -> Invalid:
    return Invalid.field("user", "not_found", "The provided reset_id did not resolve to any user")


def _doc_id(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:32]


async def start(store: Store, account_id: str, username: str, ui_url: str) -> str | None:
    """Record a reset for the user and email them the link `ui_url?recovery=<reset_id>` (the `password_recovery`
    notification, to the user's email, else the username when it is an address, else the account's admins)."""
    hit = await store.lookup(*keys.username(account_id, username))
    if hit is None:
        return None
    secret = secrets.token_urlsafe(48)
    reset_id = account_id + secret
    link = f"{ui_url}?recovery={reset_id}"
    async with store.write() as tx:
        user = await tx.get(account_id, hit[1])
        await tx.save(
            {
                "_id": _doc_id(secret),
                "pvt_type": "password_reset",
                "pvt_account_id": account_id,
                "pvt_user_id": hit[1],
                "pvt_expires": gregorian_now() + RESET_TTL_S,
                "pvt_link": link,
            }
        )
    await notify.send(store, account_id, "password_recovery", _recovery_data(user, link))
    return reset_id


def _recovery_data(user: Doc, link: str) -> dict:
    names = ("first_name", "last_name", "username", "email")
    return {
        "user": {name: user[name] for name in names if isinstance(user.get(name), str)},
        "link": link,
        "to": [user.get("email") or user.get("username")],
    }


async def finish(store: Store, reset_id: str, password: str | None) -> tuple[str, Doc]:
    """Use a reset id once: the user must update the password (or gets the new one given here).

    A disabled user or account keeps its reset id unused: the reset would only hand out a refused token.
    """
    account_id, secret = reset_id[:32], reset_id[32:]
    not_found = unknown_reset()
    if not is_id(account_id) or not secret:
        raise not_found
    async with store.write() as tx:
        reset = await tx.find(account_id, _doc_id(secret))
        if reset is None or reset.get("pvt_type") != "password_reset" or reset["pvt_expires"] < gregorian_now():
            raise not_found
        user = await tx.find(account_id, reset["pvt_user_id"])
        if user is None or user.get("enabled") is False:
            raise not_found
        await account_usable(store, account_id)
        await tx.purge(account_id, reset["_id"])
        if password:
            await apply_password(user, account_id, password)
        user["require_password_update"] = not password
        await tx.save(user, USER.keys(account_id, user))
    return account_id, user


async def set_password(store: Store, account_id: str, username: str, password: str) -> Doc:
    """An operator's reset (`sup crossbar_maintenance reset_password`): the user's new password, and the account's
    login lockouts lifted so the user can use it at once."""
    hit = await store.lookup(*keys.username(account_id, username))
    if hit is None:
        raise Invalid.field("username", "not_found", f"no user {username!r} in account {account_id}")
    async with store.write() as tx:
        user = await tx.get(account_id, hit[1])
        await apply_password(user, account_id, password)
        await tx.save(user, USER.keys(account_id, user))
        await login_throttle.forget_account(tx, account_id)
    return user

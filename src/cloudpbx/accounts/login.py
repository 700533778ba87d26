"""Finding the account a login names and the user whose credentials match."""

from __future__ import annotations

from cloudpbx.accounts import tree
from cloudpbx.accounts.credentials import seal
from cloudpbx.errors import Invalid
from cloudpbx.numbers.classifiers import normalize
from cloudpbx.store import SYSTEM, Doc, Store, keys


async def find_account(store: Store, locator: dict) -> str:
    """By phone number, then realm, then name, as KAZOO tries them; a miss names the field that missed."""
    if locator.get("phone_number"):
        async with store.read() as tx:
            doc = await tx.find(SYSTEM, normalize(str(locator["phone_number"])))
        if doc and doc.get("pvt_assigned_to"):
            return doc["pvt_assigned_to"]
        raise Invalid.field("phone_number", "not_found", "The provided phone number could not be found")
    realm = locator.get("account_realm") or locator.get("realm")
    if realm:
        hit = await store.lookup(*keys.realm(str(realm)))
        if hit:
            return hit[0]
        raise Invalid.field("account_realm", "not_found", "The provided account realm could not be found")
    if locator.get("account_name"):
        hit = await store.lookup(*keys.account_name(str(locator["account_name"])))
        if hit:
            return hit[0]
        raise Invalid.field("account_name", "not_found", "The provided account name could not be found")
    raise Invalid.field("account_name", "required", "An account name, realm or phone number is required")


async def check_credentials(store: Store, account_id: str, credentials: str, method: str) -> Doc | None:
    """The enabled user of the account whose login hash matches, if any."""
    method = "sha" if method in ("sha", "sha1") else "md5"
    hit = await store.lookup(*keys.credentials(method, account_id, await seal(credentials, account_id)))
    if hit is None:
        return None
    user = await store.find(account_id, hit[1])
    if user is None or user.get("pvt_type") != "user" or user.get("enabled") is False:
        return None
    return user


async def account_usable(store: Store, account_id: str) -> None:
    """A disabled account, or one under a disabled ancestor, cannot log in (Crossbar answers 400 here)."""
    async with store.read() as tx:
        node = await tree.node(tx, account_id)
        chain = [node, *await tree.ancestors(tx, node)] if node else []
    if not chain or not all(n.enabled for n in chain):
        raise Invalid.field("account", "disabled", "account disabled")

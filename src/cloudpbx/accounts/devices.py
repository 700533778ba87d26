"""Devices as call control reads them: found by their SIP credentials, and the fields read on every REGISTER and
call, each spelled here once (`sip.username`, `sip.password`, `sip.expire_seconds`, `owner_id`,
`media.bypass_media`)."""

from __future__ import annotations

from cloudpbx.store import Doc, Store, keys


def sip_username(device: Doc) -> str:
    return (device.get("sip") or {}).get("username") or ""


def sip_password(device: Doc) -> str | None:
    return (device.get("sip") or {}).get("password") or None


def sip_expires(device: Doc) -> int | None:
    """The registration lifetime the device asks for, if it sets one."""
    return (device.get("sip") or {}).get("expire_seconds") or None


def owner_id(doc: Doc) -> str | None:
    """The user a device (or another owned document) belongs to."""
    return doc.get("owner_id") or None


def bypass_media(doc: Doc) -> bool | str | None:
    """A device's (or an account's) `media.bypass_media` as written, None when unset."""
    return (doc.get("media") or {}).get("bypass_media")


class Devices:
    def __init__(self, store: Store):
        self.store = store

    async def by_sip(self, account_id: str, username: str) -> Doc | None:
        """The device holding these SIP credentials in the account (usernames compare case-insensitively)."""
        ref = await self.store.lookup(*keys.sip(account_id, username))
        return await self.store.find(*ref) if ref else None

    async def has_sip(self, account_id: str, username: str) -> bool:
        return await self.store.lookup(*keys.sip(account_id, username)) is not None

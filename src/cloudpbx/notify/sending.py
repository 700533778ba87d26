"""Composing a notification of an account (its template resolved, its recipients found, its texts rendered) into
the outbox, and the first delivery attempt right away; the retry job delivers what that attempt could not."""

from __future__ import annotations

import asyncio
import logging
import re
import socket
from collections.abc import Mapping
from typing import Any

from cloudpbx.notify import outbox, render, templates
from cloudpbx.notify.outbox import Message
from cloudpbx.store import SYSTEM, Doc, Store, gregorian_now

log = logging.getLogger("cloudpbx.notify")
EMAIL = re.compile(r"[^@\s,;<>\"]{1,64}@[^@\s,;<>\"]{1,190}")
CONFIG = "notify"  # system config: `default_from`
_BACKGROUND: set[asyncio.Task] = set()  # first attempts in flight (kept referenced until done)


def emails(values: Any) -> list[str]:
    """The well-formed addresses among `values` (a string or a list), each once."""
    items = [values] if isinstance(values, str) else values if isinstance(values, list) else []
    return list(dict.fromkeys(v.strip() for v in items if isinstance(v, str) and EMAIL.fullmatch(v.strip())))


async def admins(store: Store, account_id: str) -> list[str]:
    """The email addresses of the account's enabled admin users (the username when it is an address)."""
    async with store.read() as tx:
        users = await tx.list(account_id, "user")
    found = [
        user.get("email") or user.get("username")
        for user in users
        if user.get("priv_level") == "admin" and user.get("enabled") is not False
    ]
    return emails(found)


async def _recipients(store: Store, account_id: str, template: Doc, data: Mapping[str, Any]) -> list[str]:
    kind = (template.get("to") or {}).get("type", "original")
    if kind == "specified":
        return emails((template.get("to") or {}).get("email_addresses"))
    if kind == "original" and "to" in data:
        return emails(data["to"])
    return await admins(store, account_id)  # admins, or whom the event names when it names nobody


async def _sender(store: Store, template: Doc) -> str:
    configured = await store.find(SYSTEM, CONFIG) or {}
    default = {**configured, **(configured.get("default") or {})}.get("default_from")
    for candidate in (template.get("from"), default):
        if emails(candidate):
            return emails(candidate)[0]
    return f"no_reply@{socket.getfqdn()}"


async def _account(store: Store, account_id: str) -> dict[str, Any]:
    doc = await store.find(account_id, account_id) or {}
    return {"id": account_id, "name": doc.get("name", ""), "realm": doc.get("realm", "")}


def _one_line(text: str) -> str:
    return " ".join(text.split())[:998]


async def compose(
    store: Store, account_id: str, template: Doc, data: Mapping[str, Any], now: int, to: list[str] | None = None
) -> Message:
    """The message `template` makes of `data` for the account (raises RenderError)."""
    values = {"account": await _account(store, account_id), **data}
    html = template.get("html")
    return Message(
        sender=await _sender(store, template),
        to=to if to is not None else await _recipients(store, account_id, template, data),
        cc=emails((template.get("cc") or {}).get("email_addresses")),
        bcc=emails((template.get("bcc") or {}).get("email_addresses")),
        reply_to=next(iter(emails(template.get("reply_to"))), None),
        subject=_one_line(render.render(template.get("subject") or "", values)),
        text=render.render(template.get("plain") or "", values),
        html=render.render(html, values, html=True) if isinstance(html, str) and html else None,
        date=now,
    )


async def queue(
    store: Store, account_id: str, template_id: str, data: Mapping[str, Any], *, now: int | None = None
) -> str | None:
    """Put the account's notification in the outbox; its id, or None when it is disabled or has no recipient.
    A template that fails to render is logged as a failed delivery. Raises LookupError for an unknown id."""
    template = await templates.resolve(store, account_id, template_id)
    if template is None:
        raise LookupError(f"no notification {template_id!r}")
    if template.get("enabled") is False:
        return None
    now = gregorian_now() if now is None else now
    try:
        message = await compose(store, account_id, template, data, now)
    except render.RenderError as exc:
        log.warning("notification %s of %s: %s", template_id, account_id, exc)
        return await outbox.enqueue(store, account_id, template_id, None, error=str(exc))
    if not message.to:
        log.info("notification %s of %s: nobody to send it to", template_id, account_id)
        return None
    return await outbox.enqueue(store, account_id, template_id, message)


async def send(
    store: Store, account_id: str, template_id: str, data: Mapping[str, Any], *, now: int | None = None
) -> str | None:
    """The seam every sender calls: queue the notification, then try to deliver it in the background (the caller
    does not wait for the relay); the retry job delivers whatever this attempt could not."""
    ident = await queue(store, account_id, template_id, data, now=now)
    if ident is not None:
        in_background(store, account_id, ident, now)
    return ident


def in_background(store: Store, account_id: str, ident: str, now: int | None = None) -> None:
    """A first delivery attempt that nobody waits for; what it cannot deliver stays queued for the retry job."""

    async def attempt() -> None:
        try:
            await outbox.deliver(store, account_id, ident, now)
        except Exception:
            log.exception("notification %s of %s: first attempt failed", ident, account_id)

    task = asyncio.get_running_loop().create_task(attempt())
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)

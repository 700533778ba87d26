"""/v2/notifications: the system's email templates (system admins change them); /v2/accounts/{A}/notifications:
an account's view of them, its overrides (written by its reseller, an ancestor reseller or a system admin, as
KAZOO allows), `/{id}/preview` (the template, or the body's unsaved changes to it, rendered with sample data and the
account's real data) and `/smtplog` (the delivery log)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from cloudpbx.api import listing
from cloudpbx.api.context import Context, Reply
from cloudpbx.api.endpoints.base import ACCOUNT, Endpoint
from cloudpbx.api.paths import Arg, Op, Shape
from cloudpbx.errors import Forbidden, Invalid, Missing
from cloudpbx.notify import outbox, render, sending, templates
from cloudpbx.store import SYSTEM, gregorian_now, is_id

LOG_ROW = {"type": "object", "description": "one email: recipients, subject, status, attempts, error, receipt"}
PREVIEW = {
    "type": "object",
    "description": "the rendered email: from, to, cc, bcc, subject, text and html",
    "properties": {"subject": {"type": "string"}, "text": {"type": "string"}},
}
ONE = "notifications/{notification_id}"


class Notifications(Endpoint):
    noun = "notifications"
    args: ClassVar[Mapping[str, Arg]] = {
        "notification_id": Arg(r"^[a-z0-9_]{1,64}$", description="a notification id, e.g. low_balance")
    }
    system = Shape(
        "notifications",
        {
            "GET": Op("The system's notification templates", reply="notifications", listing=True),
            "PUT": Op("Add a system notification (system admins)", "notifications", "notifications", 201),
        },
    )
    system_one = Shape(
        ONE,
        {
            "GET": Op("A system template", reply="notifications"),
            "POST": Op("Replace a system template (system admins)", "notifications", "notifications"),
            "DELETE": Op("Remove the system's stored version (system admins)", reply="notifications"),
        },
    )
    account = Shape(
        f"{ACCOUNT}/notifications",
        {
            "GET": Op(
                "The account's templates, account_overridden where it has its own", reply="notifications", listing=True
            ),
            "PUT": Op("Override a notification for the account", "notifications", "notifications", 201),
        },
    )
    smtplog = Shape(f"{ACCOUNT}/notifications/smtplog", {"GET": Op("Delivery log", reply=LOG_ROW, listing=True)})
    smtplog_one = Shape(f"{ACCOUNT}/notifications/smtplog/{{id}}", {"GET": Op("One delivery", reply=LOG_ROW)})
    account_one = Shape(
        f"{ACCOUNT}/{ONE}",
        {
            "GET": Op("The template the account's notification uses", reply="notifications"),
            "POST": Op("Replace the account's override", "notifications", "notifications"),
            "DELETE": Op("Remove the account's override", reply="notifications"),
        },
    )
    preview = Shape(
        f"{ACCOUNT}/{ONE}/preview",
        {"POST": Op("Render the template (with the body's changes)", "notifications", PREVIEW, body_optional=True)},
    )
    shapes = (system, system_one, account, smtplog, smtplog_one, account_one, preview)

    async def handle(self, ctx: Context) -> Reply:
        shape = ctx.shape
        if shape is self.smtplog or shape is self.smtplog_one:
            ctx.require_admin()
            return await _log(ctx, one=shape is self.smtplog_one)
        if shape is self.system or shape is self.system_one:
            return await _system(ctx, shape is self.system)
        ctx.require_admin()
        if shape is self.preview:
            return await _preview(ctx, ctx.args[0])
        if shape is self.account:
            if ctx.method == "GET":
                return await _listing(ctx, ctx.account_id)
            await _may_override(ctx)
            template_id = templates.check_id(ctx.data.get("id") if isinstance(ctx.data, dict) else None)
            await templates.save(ctx.platform.store, ctx.account_id, template_id, ctx.data, create=True)
            return await _one(ctx, ctx.account_id, template_id, 201)
        template_id = ctx.args[0]
        if ctx.method != "GET":
            await _may_override(ctx)
        if ctx.method == "POST":
            await templates.save(ctx.platform.store, ctx.account_id, template_id, ctx.data, create=False)
        elif ctx.method == "DELETE":
            await templates.delete(ctx.platform.store, ctx.account_id, template_id)
        return await _one(ctx, ctx.account_id, template_id)


async def _system(ctx: Context, collection: bool) -> Reply:
    store = ctx.platform.store
    if ctx.method != "GET":
        ctx.require_superduper()
    if collection:
        if ctx.method == "GET":
            return await _listing(ctx, SYSTEM)
        template_id = templates.check_id(ctx.data.get("id") if isinstance(ctx.data, dict) else None)
        await templates.save(store, SYSTEM, template_id, ctx.data, create=True)
        return await _one(ctx, SYSTEM, template_id, 201)
    template_id = ctx.args[0]
    if ctx.method == "POST":
        await templates.save(store, SYSTEM, template_id, ctx.data, create=False)
    elif ctx.method == "DELETE":
        await templates.delete(store, SYSTEM, template_id)
    return await _one(ctx, SYSTEM, template_id)


async def _may_override(ctx: Context) -> None:
    """KAZOO's rule: an account's notifications are changed by a reseller at or above it, or a system admin."""
    who = ctx.who
    if who.superduper:
        return
    caller = await ctx.platform.directory.get(who.account_id)
    if caller is None or not caller.reseller:
        raise Forbidden({"message": "only the account's reseller or a system admin may change its notifications"})


async def _one(ctx: Context, partition: str, template_id: str, status: int = 200) -> Reply:
    store = ctx.platform.store
    template = await templates.resolve(store, partition, template_id)
    if template is None:
        raise Missing(template_id)
    own = partition != SYSTEM and await templates.stored(store, partition, template_id) is not None
    return Reply(templates.view(template, own), status=status)


async def _listing(ctx: Context, partition: str) -> Reply:
    store = ctx.platform.store
    rows = []
    for template_id in await templates.known(store):
        template = await templates.resolve(store, partition, template_id)
        if template is not None:
            own = partition != SYSTEM and await templates.stored(store, partition, template_id) is not None
            rows.append({**templates.view(template, own), "_id": template_id})

    async def load(start: str | None, limit: int | None) -> list[dict[str, Any]]:
        found = [row for row in rows if start is None or row["_id"] >= start]
        return found[:limit] if limit else found

    return await listing.respond(ctx, load, _without_key)


def _without_key(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "_id"}


async def _preview(ctx: Context, template_id: str) -> Reply:
    store = ctx.platform.store
    template = await templates.resolve(store, ctx.account_id, template_id)
    if template is None:
        raise Missing(template_id)
    changes = ctx.data if isinstance(ctx.data, dict) else {}
    if changes:
        template = {**template, **templates.checked({**template, **changes}, template_id)}
    samples = {k: v for k, v in templates.sample(template).items() if k != "account"}  # the account is the real one
    data = {**samples, **await _real(ctx)}
    try:
        message = await sending.compose(store, ctx.account_id, template, data, gregorian_now())
    except render.RenderError as exc:
        raise Invalid.field("template", "template", str(exc)) from None
    return Reply(
        {
            "from": message.sender,
            "to": message.to,
            "cc": message.cc,
            "bcc": message.bcc,
            "subject": message.subject,
            "text": message.text,
            "html": message.html,
        }
    )


async def _real(ctx: Context) -> dict[str, Any]:
    """The account's real data a preview shows in place of samples: the caller as the user."""
    owner = ctx.who.owner_id
    user = await ctx.platform.store.find(ctx.account_id, owner) if owner else None
    if user is None:
        return {}
    names = ("first_name", "last_name", "username", "email")
    return {"user": {name: user[name] for name in names if isinstance(user.get(name), str)}}


async def _log(ctx: Context, one: bool) -> Reply:
    store = ctx.platform.store
    if one:
        ident = ctx.args[-1]  # after the literal `smtplog`
        found = await outbox.entry(store, ctx.account_id, ident) if is_id(ident) else None
        if found is None:
            raise Missing(ident)
        return Reply(found)

    async def load(start: str | None, limit: int | None) -> list[dict[str, Any]]:
        rows = await outbox.entries(store, ctx.account_id, start if is_id(start) else None, limit)
        return [{**row, "_id": row["id"]} for row in rows]

    return await listing.respond(ctx, load, _without_key)


ENDPOINT = Notifications()

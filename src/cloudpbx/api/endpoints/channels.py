"""/v2/accounts/{A}/channels: the live calls of the account and its descendants (`/channels/{uuid}` for one)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from cloudpbx.api import listing
from cloudpbx.api.context import Context, Reply
from cloudpbx.api.endpoints.base import ACCOUNT, Endpoint
from cloudpbx.api.paths import Arg, Op, Shape
from cloudpbx.errors import Missing
from cloudpbx.state.channels import Channel


def view(channel: Channel) -> dict:
    return {**channel.view(), "account_id": channel.account_id}


class Channels(Endpoint):
    noun = "channels"
    args: ClassVar[Mapping[str, Arg]] = {"uuid": Arg(description="a call leg's id (its SIP Call-ID)")}
    shapes = (
        Shape(
            f"{ACCOUNT}/channels",
            {"GET": Op("Live calls of the account and its descendants", reply={"type": "object"}, listing=True)},
        ),
        Shape(f"{ACCOUNT}/channels/{{uuid}}", {"GET": Op("One live call", reply={"type": "object"})}),
    )

    async def handle(self, ctx: Context) -> Reply:
        below = await ctx.platform.directory.descendants(ctx.node)
        account_ids = {ctx.account_id, *(node.id for node in below)}
        live = ctx.platform.channels
        if ctx.args:
            channel = live.get(ctx.args[0])
            if channel is None or channel.account_id not in account_ids:
                raise Missing(ctx.args[0])
            return Reply(view(channel))
        rows = sorted(({"_id": c.uuid, **view(c)} for c in live.of_accounts(account_ids)), key=lambda r: r["_id"])

        async def load(start, limit):
            found = [r for r in rows if start is None or r["_id"] >= start]
            return found[:limit] if limit else found

        return await listing.respond(ctx, load, lambda r: {k: v for k, v in r.items() if k != "_id"})


ENDPOINT = Channels()

"""/v2/accounts/{A}/registrations: who is registered (`/count` for how many); DELETE flushes them all, or one
SIP username's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from cloudpbx.api.context import Context, Reply
from cloudpbx.api.endpoints.base import ACCOUNT, Endpoint
from cloudpbx.api.paths import Arg, Op, Shape
from cloudpbx.errors import Missing

COUNT = "count"


class Registrations(Endpoint):
    noun = "registrations"
    args: ClassVar[Mapping[str, Arg]] = {"username": Arg(description="a device's SIP username")}
    shapes = (
        Shape(
            f"{ACCOUNT}/registrations",
            {
                "GET": Op("SIP registrations", reply={"type": "array"}),
                "DELETE": Op("Flush every registration", reply={"type": "string"}),
            },
        ),
        Shape(
            f"{ACCOUNT}/registrations/{COUNT}",
            {
                "GET": Op(
                    "How many are registered",
                    reply={"type": "object", "required": ["count"], "properties": {"count": {"type": "integer"}}},
                )
            },
        ),
        Shape(
            f"{ACCOUNT}/registrations/{{username}}",
            {"DELETE": Op("Flush one SIP username's", reply={"type": "string"})},
        ),
    )

    async def handle(self, ctx: Context) -> Reply:
        registrations = ctx.platform.registrations
        if ctx.args == [COUNT]:
            return Reply({"count": len(registrations.list(ctx.account_id))})
        if ctx.method == "GET":
            return Reply([r.view() for r in registrations.list(ctx.account_id)])
        if not ctx.args:
            registrations.flush(ctx.account_id)
            return Reply("ok")
        username = ctx.args[0]
        if not await ctx.platform.devices.has_sip(ctx.account_id, username):
            raise Missing(username)
        registrations.flush(ctx.account_id, username)
        return Reply("ok")


ENDPOINT = Registrations()

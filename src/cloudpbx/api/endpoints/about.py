"""/v2/about: which version and node answered."""

from __future__ import annotations

from cloudpbx import __version__
from cloudpbx.api.context import Context, Reply
from cloudpbx.api.endpoints.base import Endpoint
from cloudpbx.api.paths import Op, Shape


class About(Endpoint):
    noun = "about"
    shapes = (
        Shape(
            "about",
            {
                "GET": Op(
                    "Version and node",
                    reply={"type": "object", "properties": {"version": {"type": "string"}, "node": {"type": "string"}}},
                )
            },
        ),
    )

    def user_may(self, ctx: Context) -> bool:
        return True

    async def handle(self, ctx: Context) -> Reply:
        return Reply({"version": __version__, "node": ctx.platform.settings.node, "product": "cloudpbx"})


ENDPOINT = About()

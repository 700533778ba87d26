"""/v2/about: which version and node answered."""

from __future__ import annotations

from cloudpbx import __version__
from cloudpbx.api.context import Context, Reply
from cloudpbx.api.endpoints.base import Endpoint


class About(Endpoint):
    noun = "about"

    def user_may(self, ctx: Context) -> bool:
        return True

    async def handle(self, ctx: Context) -> Reply:
        return Reply({"version": __version__, "node": ctx.platform.settings.node, "product": "cloudpbx"})


ENDPOINT = About()

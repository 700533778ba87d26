"""/v2/accounts/{A}/multi_factor (an account's multi factor provider configurations, the system providers it may
use, and its multi factor login attempts) and /v2/multi_factor (the system providers, for system administrators)."""

from __future__ import annotations

from cloudpbx.accounts import multi_factor
from cloudpbx.api.context import Context, Reply
from cloudpbx.api.endpoints.base import ACCOUNT, Endpoint, doc_reply
from cloudpbx.api.paths import Op, Shape
from cloudpbx.errors import Invalid
from cloudpbx.store import SYSTEM

ATTEMPTS = "attempts"
PROVIDER = "multi_factor_provider"
SUMMARIES = {"type": "array", "items": {"type": "object", "description": "a summary row"}}
ACCOUNT_LISTING = {
    "type": "object",
    "required": ["configured", "multi_factor_providers"],
    "properties": {
        "configured": {**SUMMARIES, "description": "the account's own configurations"},
        "multi_factor_providers": {**SUMMARIES, "description": "the system's providers"},
    },
}
PATCH = {"type": "object", "description": "fields to change; null removes one"}


def _provider_shapes(base: str, listing: Op) -> tuple[Shape, Shape]:
    """The collection and item shapes of provider configurations kept under `base`."""
    return (
        Shape(base, {"GET": listing, "PUT": Op("Add a provider configuration", PROVIDER, PROVIDER, 201)}),
        Shape(
            f"{base}/{{id}}",
            {
                "GET": Op("Read a provider configuration", reply=PROVIDER),
                "POST": Op("Replace a provider configuration", PROVIDER, PROVIDER),
                "PATCH": Op("Change fields of a provider configuration", PATCH, PROVIDER),
                "DELETE": Op("Remove a provider configuration", reply=PROVIDER),
            },
        ),
    )


class MultiFactor(Endpoint):
    noun = "multi_factor"
    shapes = (
        *_provider_shapes("multi_factor", Op("The system's providers", reply=PROVIDER, listing=True)),
        *_provider_shapes(
            f"{ACCOUNT}/multi_factor",
            Op("The account's configurations and the system's providers", reply=ACCOUNT_LISTING),
        ),
        Shape(
            f"{ACCOUNT}/multi_factor/{ATTEMPTS}",
            {"GET": Op("Multi factor login attempts, newest first", reply={"type": "object"}, listing=True)},
        ),
        Shape(
            f"{ACCOUNT}/multi_factor/{ATTEMPTS}/{{id}}",
            {"GET": Op("One multi factor login attempt", reply={"type": "object"})},
        ),
    )

    def user_may(self, ctx: Context) -> bool:
        """Provider settings hold secrets: users may only see the listing of their own account."""
        return ctx.method == "GET" and not ctx.args and ctx.account is not None and ctx.node.id == ctx.who.account_id

    async def handle(self, ctx: Context) -> Reply:
        store, args = ctx.platform.store, ctx.args
        if ctx.account is None:
            ctx.require_superduper()
        partition = ctx.account_id if ctx.account is not None else SYSTEM
        if args[:1] == [ATTEMPTS]:
            if len(args) == 2:
                return Reply(await multi_factor.attempt(store, partition, args[1]))
            return Reply(await multi_factor.attempts(store, partition))
        if not args:
            return await self._collection(ctx, partition)
        if ctx.method == "GET":
            return doc_reply(await multi_factor.get(store, partition, args[0]))
        if ctx.method == "DELETE":
            reply = doc_reply(await multi_factor.delete(store, partition, args[0]))
            reply.data["_read_only"] = {"deleted": True}
            return reply
        return doc_reply(await multi_factor.change(store, partition, args[0], self._data(ctx), ctx.method == "PATCH"))

    async def _collection(self, ctx: Context, partition: str) -> Reply:
        store = ctx.platform.store
        if ctx.method == "PUT":
            return doc_reply(await multi_factor.create(store, partition, self._data(ctx)), 201)
        configured = await multi_factor.listing(store, partition)
        if ctx.account is None:
            return Reply(configured)
        return Reply({"configured": configured, "multi_factor_providers": await multi_factor.listing(store, SYSTEM)})

    @staticmethod
    def _data(ctx: Context):
        if "data" not in ctx.envelope:
            raise Invalid.field("data", "required", "Field is required but missing")
        return ctx.data


ENDPOINT = MultiFactor()

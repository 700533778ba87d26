"""/v2/accounts/{A}/multi_factor (an account's multi factor provider configurations, the system providers it may
use, and its multi factor login attempts) and /v2/multi_factor (the system providers, for system administrators).

Paths: `multi_factor` GET, PUT; `multi_factor/{C}` GET, POST, PATCH, DELETE; `accounts/{A}/multi_factor` GET, PUT;
`accounts/{A}/multi_factor/{C}` GET, POST, PATCH, DELETE; `accounts/{A}/multi_factor/attempts[/{ID}]` GET.
"""

from __future__ import annotations

from cloudpbx.accounts import multi_factor
from cloudpbx.api.context import Context, Reply
from cloudpbx.api.endpoints.base import BadPath, Endpoint, doc_reply
from cloudpbx.errors import Invalid
from cloudpbx.store import SYSTEM, is_id

ATTEMPTS = "attempts"


class MultiFactor(Endpoint):
    noun = "multi_factor"

    def allowed(self, ctx: Context) -> set[str]:
        in_account = ctx.nouns[0][0] == "accounts" and len(ctx.nouns) == 2
        if not in_account and ctx.nouns[0][0] != self.noun:
            raise BadPath({"message": "multi_factor lives at /v2/accounts/{account_id}/multi_factor"})
        args = ctx.args
        if in_account and args[:1] == [ATTEMPTS] and len(args) <= 2:
            return {"GET"}
        if not args:
            return {"GET", "PUT"}
        if len(args) == 1 and args[0] != ATTEMPTS:
            return {"GET", "POST", "PATCH", "DELETE"}
        raise BadPath({"message": "not found", "cause": "/".join(args)})

    def user_may(self, ctx: Context) -> bool:
        """Provider settings hold secrets: users may only see the listing of their own account."""
        return ctx.method == "GET" and not ctx.args and ctx.account is not None and \
            ctx.account.id == ctx.caller.account_id

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
            if ctx.method == "PUT":
                return doc_reply(await multi_factor.create(store, partition, self._data(ctx)), 201)
            configured = await multi_factor.listing(store, partition)
            if ctx.account is None:
                return Reply(configured)
            return Reply({"configured": configured, "multi_factor_providers": await multi_factor.listing(store, SYSTEM)})
        if not is_id(args[0]):
            raise BadPath({"message": "not found", "cause": args[0]})
        if ctx.method == "GET":
            return doc_reply(await multi_factor.get(store, partition, args[0]))
        if ctx.method == "DELETE":
            reply = doc_reply(await multi_factor.delete(store, partition, args[0]))
            reply.data["_read_only"] = {"deleted": True}
            return reply
        return doc_reply(await multi_factor.change(store, partition, args[0], self._data(ctx), ctx.method == "PATCH"))

    @staticmethod
    def _data(ctx: Context):
        if "data" not in ctx.envelope:
            raise Invalid.field("data", "required", "Field is required but missing")
        return ctx.data


ENDPOINT = MultiFactor()

"""/v2/accounts: tenant CRUD and the tree (children, descendants, siblings, parents, tree, move, api_key, reseller)."""

from __future__ import annotations

from cloudpbx.accounts.accounts import metadata
from cloudpbx.api.context import Context, Reply
from cloudpbx.api.endpoints.base import ACCOUNT, Endpoint
from cloudpbx.api.paths import Op, Shape
from cloudpbx.errors import Forbidden, Invalid, Missing
from cloudpbx.store import is_id

READ_VIEWS = ("children", "descendants", "siblings", "parents", "tree")
ROWS = {"type": "array", "items": {"type": "object", "properties": {"id": {"type": "string"}}}}
API_KEY = {"type": "object", "required": ["api_key"], "properties": {"api_key": {"type": "string"}}}
MOVE = {"type": "object", "required": ["to"], "properties": {"to": {"type": "string", "pattern": "^[0-9a-f]{32}$"}}}


class Accounts(Endpoint):
    noun = "accounts"
    shapes = (
        Shape("accounts", {"PUT": Op("Create an account below the caller's", "accounts", "accounts", 201)}),
        Shape(
            ACCOUNT,
            {
                "GET": Op("Read an account", reply="accounts"),
                "PUT": Op("Create a sub-account", "accounts", "accounts", 201),
                "POST": Op("Replace an account", "accounts", "accounts"),
                "PATCH": Op("Change fields of an account", {"type": "object"}, "accounts"),
                "DELETE": Op("Delete an account without sub-accounts (not the master account)", reply="accounts"),
            },
        ),
        *(Shape(f"{ACCOUNT}/{view}", {"GET": Op(f"The account's {view}", reply=ROWS)}) for view in READ_VIEWS),
        Shape(
            f"{ACCOUNT}/api_key",
            {
                "GET": Op("Read the API key", reply=API_KEY),
                "PUT": Op("Regenerate the API key", reply=API_KEY, body_optional=True),
            },
        ),
        Shape(
            f"{ACCOUNT}/reseller",
            {
                "PUT": Op("Promote to reseller", reply="accounts", body_optional=True),
                "DELETE": Op("Demote", reply="accounts"),
            },
        ),
        Shape(f"{ACCOUNT}/move", {"POST": Op("Move below another account", MOVE, "accounts")}),
    )

    def allowed(self, ctx: Context) -> set[str]:
        """The master account cannot be deleted (KAZOO leaves DELETE out of its allowed methods)."""
        methods = super().allowed(ctx)
        return (
            methods - {"DELETE"}
            if ctx.shape is not None and ctx.shape.template == ACCOUNT and not ctx.node.tree
            else methods
        )

    def user_may(self, ctx: Context) -> bool:
        return ctx.method == "GET" and len(ctx.args) == 1 and ctx.args[0] == ctx.who.account_id

    async def handle(self, ctx: Context) -> Reply:
        args = ctx.args
        if not args:
            return await self._create(ctx, ctx.who.account_id)
        if len(args) == 1:
            return await self._item(ctx)
        sub = args[1]
        if sub in READ_VIEWS:
            return Reply(await getattr(self, f"_{sub}")(ctx))
        if sub == "api_key":
            return await self._api_key(ctx)
        if sub == "reseller":
            ctx.require_superduper()
            await ctx.platform.accounts.set_reseller(ctx.account_id, ctx.method == "PUT")
            return await self._view(ctx, ctx.account_id)
        return await self._move(ctx)

    async def _view(self, ctx: Context, account_id: str, status: int = 200) -> Reply:
        view = await ctx.platform.accounts.view(account_id)
        reply = Reply(view, status=status, extra={"metadata": metadata(view)})
        if status == 201:
            reply.headers["location"] = account_id
        return reply

    async def _create(self, ctx: Context, parent_id: str) -> Reply:
        if not isinstance(ctx.data, dict):
            raise Invalid.field("data", "type", "Value did not match type(s): object")
        doc = await ctx.platform.accounts.create(parent_id, ctx.data)
        return await self._view(ctx, doc["_id"], 201)

    async def _item(self, ctx: Context) -> Reply:
        accounts = ctx.platform.accounts
        if ctx.method == "GET":
            return await self._view(ctx, ctx.account_id)
        if ctx.method == "PUT":
            return await self._create(ctx, ctx.account_id)
        if ctx.method == "DELETE":
            view = await accounts.view(ctx.account_id)
            await accounts.delete(ctx.account_id)
            view["_read_only"] = {"deleted": True}
            return Reply(view)
        caller = ctx.who
        is_ancestor = ctx.account_id != caller.account_id and (caller.superduper or caller.account_id in ctx.node.tree)
        await accounts.update(ctx.account_id, ctx.data, patch=ctx.method == "PATCH", may_enable=is_ancestor)
        return await self._view(ctx, ctx.account_id)

    async def _children(self, ctx: Context) -> list[dict]:
        below = await ctx.platform.directory.descendants(ctx.node)
        rows = []
        for child in (n for n in below if n.parent_id == ctx.account_id):
            count = sum(1 for n in below if child.id in n.tree)
            rows.append({"id": child.id, "name": child.name, "realm": child.realm, "descendants_count": count})
        return rows

    async def _descendants(self, ctx: Context) -> list[dict]:
        below = await ctx.platform.directory.descendants(ctx.node)
        return [{"id": n.id, "name": n.name, "realm": n.realm, "tree": _seen_by(ctx.caller, n.tree)} for n in below]

    async def _siblings(self, ctx: Context) -> list[dict]:
        if ctx.account_id == ctx.who.account_id and not ctx.who.superduper:
            raise Forbidden({"message": "sibling listing of your own account is not allowed"})
        if ctx.node.parent_id is None:
            return []
        siblings = await ctx.platform.directory.children(ctx.node.parent_id)
        return [{"id": n.id, "name": n.name, "realm": n.realm} for n in siblings if n.id != ctx.account_id]

    async def _visible_ancestors(self, ctx: Context) -> list[dict]:
        """Ancestors of the account, cut at the caller's own account: nobody sees above themselves."""
        chain = await ctx.platform.directory.ancestors(ctx.node)
        seen = set(_seen_by(ctx.caller, ctx.node.tree))
        return [{"id": n.id, "name": n.name} for n in chain if n.id in seen]

    _parents = _visible_ancestors
    _tree = _visible_ancestors

    async def _api_key(self, ctx: Context) -> Reply:
        ctx.require_admin()
        if ctx.method == "PUT":
            key = await ctx.platform.accounts.regenerate_api_key(ctx.account_id)
        else:
            key = (await ctx.platform.accounts.get(ctx.account_id))["pvt_api_key"]
        return Reply({"api_key": key})

    async def _move(self, ctx: Context) -> Reply:
        to = ctx.value("to")
        if not is_id(to):
            raise Invalid.field("to", "required", "The destination account id is required")
        dest = await ctx.platform.directory.get(to)
        if dest is None:
            raise Missing(to)
        mode = await ctx.platform.configs.value("crossbar.accounts", "allow_move", "superduper_admin")
        caller = ctx.who
        allowed = caller.superduper or (
            mode == "tree" and dest.is_within(caller.account_id) and ctx.account_id != caller.account_id
        )
        if not allowed:
            raise Forbidden({"message": "moving accounts is not allowed for this account"})
        await ctx.platform.accounts.move(ctx.account_id, to)
        return await self._view(ctx, ctx.account_id)


def _seen_by(caller, ancestors: tuple[str, ...]) -> list[str]:
    """The part of an ancestor list a caller may see: from its own account down (superduper sees it all)."""
    if caller.superduper:
        return list(ancestors)
    return list(ancestors[ancestors.index(caller.account_id) :]) if caller.account_id in ancestors else []


ENDPOINT = Accounts()

"""What every endpoint module provides, and the generic one for account documents."""

from __future__ import annotations

from cloudpbx.accounts.documents import Kind, public, row
from cloudpbx.api import listing, secrets
from cloudpbx.api.context import Context, Reply
from cloudpbx.errors import Invalid
from cloudpbx.errors import NotFoundPath as BadPath


class Endpoint:
    noun = ""

    def is_public(self, ctx: Context) -> bool:
        """Whether the request may come without credentials."""
        return False

    def allowed(self, ctx: Context) -> set[str]:
        return {"GET"}

    def body_limit(self, args: list[str]) -> int:
        """A request body cap above the platform's, for paths that take large uploads; 0 keeps the platform's."""
        return 0

    def user_may(self, ctx: Context) -> bool:
        """Whether a non-admin user may do this; by default users read their own account."""
        return ctx.method == "GET" and (ctx.account is None or ctx.account.id == ctx.caller.account_id)

    async def handle(self, ctx: Context) -> Reply:
        raise NotImplementedError

    def needs_account(self, ctx: Context) -> None:
        if ctx.account is None:
            raise BadPath({"message": f"{self.noun} live under /v2/accounts/{{account_id}}"})


def doc_reply(doc: dict, status: int = 200) -> Reply:
    reply = Reply(public(doc), status=status, revision=doc.get("_rev"))
    if status == 201:
        reply.headers["location"] = doc["_id"]
    return reply


def if_match(ctx: Context) -> str | None:
    value = ctx.headers.get("if-match")
    return value.strip('"') if value else None


class DocumentEndpoint(Endpoint):
    """CRUD on one kind of account document: list and create on the collection, the rest on an item."""

    def __init__(self, kind: Kind):
        self.kind = kind
        self.noun = kind.name

    def allowed(self, ctx: Context) -> set[str]:
        if not ctx.args:
            return {"GET", "PUT"}
        if len(ctx.args) == 1:
            return {"GET", "POST", "PATCH", "DELETE"}
        raise BadPath({"message": "not found", "cause": "/".join(ctx.args)})

    async def handle(self, ctx: Context) -> Reply:
        self.needs_account(ctx)
        docs = ctx.platform.documents
        if ctx.method == "GET":  # a user-level caller reads no secrets of documents it does not own
            secrets.refuse_secret_filters(ctx, self.noun)
            reply = await (self.show(ctx, ctx.args[0]) if ctx.args else self.list(ctx))
            reply.data = secrets.hide(ctx, self.noun, reply.data)
            return reply
        if not ctx.args:
            return doc_reply(await docs.create(self.kind, ctx.account_id, self.incoming(ctx)), 201)
        doc_id = ctx.args[0]
        if ctx.method == "POST":
            return doc_reply(await docs.replace(self.kind, ctx.account_id, doc_id, self.incoming(ctx), if_match(ctx)))
        if ctx.method == "PATCH":
            return doc_reply(await docs.patch(self.kind, ctx.account_id, doc_id, self.incoming(ctx), if_match(ctx)))
        deleted = await docs.delete(self.kind, ctx.account_id, doc_id, if_match(ctx))
        reply = doc_reply(deleted)
        reply.data["_read_only"] = {"deleted": True}
        return reply

    def incoming(self, ctx: Context) -> dict:
        if "data" not in ctx.envelope:
            raise Invalid.field("data", "required", "Field is required but missing")
        return ctx.data

    async def list(self, ctx: Context) -> Reply:
        async def load(start, limit):
            return await ctx.platform.documents.list(self.kind, ctx.account_id, start, limit)

        return await listing.respond(ctx, load, lambda d: row(self.kind, d))

    async def show(self, ctx: Context, doc_id: str) -> Reply:
        """One document as stored; the view is shared with other readers of its revision, so it is not changed."""
        view, revision = await ctx.platform.documents.view(self.kind, ctx.account_id, doc_id)
        return Reply(view, revision=revision)

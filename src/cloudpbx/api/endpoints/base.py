"""What every endpoint module provides, and the generic one for account documents."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from cloudpbx.accounts.documents import Kind, public, row
from cloudpbx.api import listing, secrets
from cloudpbx.api.context import Context, Reply
from cloudpbx.api.paths import Arg, Op, Shape
from cloudpbx.billing import quantities
from cloudpbx.errors import Invalid

ACCOUNT = "accounts/{account_id}"


class Endpoint:
    """An endpoint declares the path shapes it serves in `shapes` (see `api/paths.py`); the router sends it only
    requests that match one of them, and the OpenAPI document describes exactly those."""

    noun = ""
    shapes: tuple[Shape, ...] = ()
    args: ClassVar[Mapping[str, Arg]] = {}  # grammars of placeholders particular to this endpoint

    def is_public(self, ctx: Context) -> bool:
        """Whether the request may come without credentials: as its shape declares the method."""
        op = ctx.shape.ops.get(ctx.method) if ctx.shape else None
        return op is not None and op.public

    def allowed(self, ctx: Context) -> set[str]:
        """The methods of the matched shape; an endpoint narrows them when they depend on the account."""
        return set(ctx.shape.ops) if ctx.shape else set()

    def body_limit(self, args: list[str]) -> int:
        """A request body cap above the platform's, for paths that take large uploads; 0 keeps the platform's."""
        return 0

    def user_may(self, ctx: Context) -> bool:
        """Whether a non-admin user may do this; by default users read their own account."""
        return ctx.method == "GET" and (ctx.account is None or ctx.node.id == ctx.who.account_id)

    async def handle(self, ctx: Context) -> Reply:
        raise NotImplementedError

    async def additions(self, ctx: Context) -> dict[tuple[str, str], int] | None:
        """What a write adds to the account's service plan quantities ((category, item) -> count), for the 402
        handshake; None when this endpoint's writes change no quantity."""
        return None


def crud(noun: str, schema: str, parent: str = ACCOUNT) -> tuple[Shape, Shape]:
    """The collection and item shapes of a document noun: list and create; read, replace, change and delete.
    An empty `parent` puts the noun at the top of the API (platform-wide documents)."""
    collection = f"{parent}/{noun}" if parent else noun
    return (
        Shape(
            collection,
            {
                "GET": Op(f"List {noun}", reply=schema, listing=True),
                "PUT": Op(f"Create one of {noun}", body=schema, reply=schema, status=201),
            },
        ),
        Shape(
            f"{collection}/{{id}}",
            {
                "GET": Op(f"Read one of {noun}", reply=schema),
                "POST": Op(f"Replace one of {noun}", body=schema, reply=schema),
                "PATCH": Op(f"Change fields of one of {noun}", body={"type": "object"}, reply=schema),
                "DELETE": Op(f"Delete one of {noun}", reply=schema),
            },
        ),
    )


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

    def __init__(self, kind: Kind, *extra: Shape):
        self.kind = kind
        self.noun = kind.name
        self.shapes = (*crud(kind.name, kind.name), *extra)

    async def handle(self, ctx: Context) -> Reply:
        docs, partition = ctx.platform.documents, self.partition(ctx)
        if ctx.method == "GET":  # a user-level caller reads no secrets of documents it does not own
            secrets.refuse_secret_filters(ctx, self.noun)
            reply = await (self.show(ctx, ctx.args[0]) if ctx.args else self.list(ctx))
            reply.data = secrets.hide(ctx, self.noun, reply.data)
            return reply
        if not ctx.args:
            return doc_reply(await docs.create(self.kind, partition, self.incoming(ctx)), 201)
        doc_id = ctx.args[0]
        if ctx.method == "POST":
            return doc_reply(await docs.replace(self.kind, partition, doc_id, self.incoming(ctx), if_match(ctx)))
        if ctx.method == "PATCH":
            return doc_reply(await docs.patch(self.kind, partition, doc_id, self.incoming(ctx), if_match(ctx)))
        deleted = await docs.delete(self.kind, partition, doc_id, if_match(ctx))
        reply = doc_reply(deleted)
        reply.data["_read_only"] = {"deleted": True}
        return reply

    async def additions(self, ctx: Context) -> dict[tuple[str, str], int] | None:
        """A created document adds its item; a changed one moves from its old item to its new one."""
        doc_type = quantities.NOUNS.get(self.noun)
        if doc_type is None:
            return None
        if ctx.method == "DELETE" or not isinstance(ctx.data, dict):
            return {}
        old = await ctx.platform.documents.find(self.kind, self.partition(ctx), ctx.args[0]) if ctx.args else None
        new = {**old, **ctx.data} if old is not None and ctx.method == "PATCH" else ctx.data
        return quantities.change(doc_type, old, new)

    def partition(self, ctx: Context) -> str:
        """Where the documents live: the account of the path."""
        return ctx.account_id

    def incoming(self, ctx: Context) -> dict:
        if "data" not in ctx.envelope:
            raise Invalid.field("data", "required", "Field is required but missing")
        return ctx.data

    async def list(self, ctx: Context) -> Reply:
        async def load(start, limit):
            return await ctx.platform.documents.list(self.kind, self.partition(ctx), start, limit)

        return await listing.respond(ctx, load, lambda d: row(self.kind, d))

    async def show(self, ctx: Context, doc_id: str) -> Reply:
        """One document as stored; the view is shared with other readers of its revision, so it is not changed."""
        view, revision = await ctx.platform.documents.view(self.kind, self.partition(ctx), doc_id)
        return Reply(view, revision=revision)

"""/v2/accounts/{A}/cdrs: call detail records, read-only. The list is per leg over a created range (CSV too);
`/{id}` is one leg, `/interaction` one row per call, `/legs/{interaction or cdr id}` a call's legs, and
`/users/{U}/cdrs[/interaction]` the same for the legs a user owns."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from cloudpbx.accounts import cdrs, kinds
from cloudpbx.api import listing
from cloudpbx.api.context import Context, Reply
from cloudpbx.api.endpoints.base import ACCOUNT, Endpoint
from cloudpbx.api.paths import Arg, Op, Shape
from cloudpbx.errors import Invalid, Missing
from cloudpbx.store.cdrs import Key, Span

INTERACTION, LEGS = "interaction", "legs"
LIST, ONE = "list", "one"
USER = f"{ACCOUNT}/users/{{user_id}}"
ROW, ROWS = {"type": "object"}, {"type": "array", "items": {"type": "object"}}
CDR_ID = r"^[A-Za-z0-9._~@+=:-]{1,210}$"  # `YYYYMM-` and a call id that a path can carry as it is (see cdrs.cdr_id)
MAXIMUM_RANGE = 2682000  # crossbar.maximum_range: 31 days and an hour


def _shape(args: list[str]) -> str | None:
    if not args:
        return LIST
    if args == [INTERACTION]:
        return INTERACTION
    if len(args) == 2 and args[0] == LEGS:
        return LEGS
    return ONE if len(args) == 1 else None


def _start_key(ctx: Context) -> Key | None:
    """`<created>-<id>` as this listing hands out in `next_start_key`; a bare Gregorian second also works."""
    raw = ctx.query.get("start_key")
    if raw is None:
        return None
    created, _, ident = raw.partition("-")
    if not (created.isascii() and created.isdigit() and len(created) <= 12) or int(created) > listing.LAST_SECOND:
        raise Invalid.field("start_key", "type", "Value is not a start key of this listing", value=raw)
    return int(created), ident or None


def _encode(key: Key) -> str:
    return f"{key[0]}-{key[1]}"


async def _maximum_range(ctx: Context) -> int:
    """`crossbar.cdrs.maximum_range`, else `crossbar.maximum_range`, else 2682000 seconds."""
    configs = ctx.platform.configs
    fallback = await configs.value("crossbar", "maximum_range", MAXIMUM_RANGE)
    value = await configs.value("crossbar.cdrs", "maximum_range", fallback)
    return value if isinstance(value, int) and value > 0 else MAXIMUM_RANGE


class Cdrs(Endpoint):
    noun = "cdrs"

    def _owner(self, ctx: Context) -> str | None:
        users = ctx.parent("users")
        return users[0] if users else None

    args: ClassVar[Mapping[str, Arg]] = {
        "cdr_id": Arg(CDR_ID, description="`YYYYMM-<call id>`"),
        "interaction_id": Arg(CDR_ID, description="an interaction or CDR id"),
    }
    shapes = (
        Shape(
            f"{ACCOUNT}/cdrs",
            {"GET": Op("Call legs in a created range (created_from, created_to; CSV too)", reply=ROW, listing=True)},
        ),
        Shape(f"{ACCOUNT}/cdrs/{{cdr_id}}", {"GET": Op("One call leg", reply=ROW)}),
        Shape(
            f"{ACCOUNT}/cdrs/{INTERACTION}", {"GET": Op("One row per call in a created range", reply=ROW, listing=True)}
        ),
        Shape(
            f"{ACCOUNT}/cdrs/{LEGS}/{{interaction_id}}",
            {"GET": Op("The legs of a call (by interaction or CDR id)", reply=ROWS)},
        ),
        Shape(f"{USER}/cdrs", {"GET": Op("The call legs a user owns", reply=ROW, listing=True)}),
        Shape(f"{USER}/cdrs/{INTERACTION}", {"GET": Op("One row per call of a user", reply=ROW, listing=True)}),
    )

    def user_may(self, ctx: Context) -> bool:
        """Users read their own calls; the account's call log is for administrators."""
        own_account = ctx.account is not None and ctx.node.id == ctx.who.account_id
        owner_id = self._owner(ctx)
        return own_account and owner_id is not None and owner_id == ctx.who.owner_id

    async def handle(self, ctx: Context) -> Reply:
        shape, store = _shape(ctx.args), ctx.platform.store
        if shape == ONE:
            return Reply(await cdrs.get(store, ctx.account_id, ctx.args[0]))
        if shape == LEGS:
            return Reply(await cdrs.legs(store, ctx.account_id, ctx.args[1]))
        return await self._list(ctx, shape == INTERACTION)

    async def _list(self, ctx: Context, interactions: bool) -> Reply:
        """A page of legs or interactions; a CSV file gets the whole range."""
        span, store = await self._span(ctx), ctx.platform.store
        size = None if ctx.wants_csv else listing.page_size(ctx)
        start = _start_key(ctx)
        if interactions:
            rows, following = await cdrs.list_interactions(store, span, start, size)
        else:
            keep = listing.predicates(ctx)
            docs, following = await cdrs.list_legs(store, span, start, size, lambda d: all(p(d) for p in keep))
            rows = [cdrs.listing_row(doc) for doc in docs]
        paging: dict[str, int | str] = {"page_size": len(rows)}
        if start is not None:
            paging["start_key"] = ctx.query["start_key"]
        if following is not None:
            paging["next_start_key"] = _encode(following)
        return Reply(rows, paging=paging)

    async def _span(self, ctx: Context) -> Span:
        owner_id = self._owner(ctx)
        if owner_id is not None and await ctx.platform.documents.find(kinds.USER, ctx.account_id, owner_id) is None:
            raise Missing(owner_id)
        created_from, created_to = listing.time_range(ctx, await _maximum_range(ctx))
        query = ctx.query
        ascending = query.get("ascending", "").lower() == "true" or query.get("descending", "").lower() == "false"
        return Span(ctx.account_id, created_from, created_to, owner_id, descending=not ascending)


ENDPOINT = Cdrs()

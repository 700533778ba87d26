"""/v2/rates: rate decks (KAZOO's cb_rates). System admins manage every deck, resellers the decks they own.

`PUT /v2/rates` adds one rate, `POST /v2/rates?ratedeck_id=D` with a CSV file replaces deck D's rates (all or
nothing), `GET /v2/rates/ratedecks` lists the decks with their number of rates, and `GET /v2/rates/number/{N}`
rates a number by the caller's own deck (any logged-in user may ask).
"""

from __future__ import annotations

from typing import Any, ClassVar

from cloudpbx.api import listing
from cloudpbx.api.context import Context, Reply
from cloudpbx.api.endpoints.base import Endpoint
from cloudpbx.api.endpoints.uploads import read_upload
from cloudpbx.api.paths import Arg, Op, Query, Shape
from cloudpbx.billing.cost import base_cost
from cloudpbx.billing.decks import Manager
from cloudpbx.billing.rates import DECK, FIELDS, Rate, dollars
from cloudpbx.errors import Invalid
from cloudpbx.numbers.classifiers import is_did, normalize

CSV_TYPES = ("text/csv", "text/comma-separated-values")
MAX_UPLOAD_BYTES = 32 * 1024 * 1024  # a 100,000-rate deck is about 8 MB
MONEY = {"type": "number", "minimum": 0, "description": "dollars"}
SECONDS = {"type": "integer", "minimum": 0}
TEXT = {"type": "string"}
DIRECTION = {"type": "array", "items": {"type": "string", "enum": ["inbound", "outbound"]}}
RATE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": TEXT,
        "ratedeck_id": {"type": "string", "pattern": f"^{DECK.pattern}$"},
        "prefix": TEXT,
        "direction": DIRECTION,
        "iso_country_code": TEXT,
        "description": TEXT,
        "rate_name": TEXT,
        "rate_cost": MONEY,
        "rate_increment": SECONDS,
        "rate_minimum": SECONDS,
        "rate_surcharge": MONEY,
        "rate_nocharge_time": SECONDS,
        "weight": {"type": "integer", "minimum": 1, "maximum": 100},
    },
    "required": ["id", *FIELDS, "ratedeck_id"],
}
RATED = {
    "allOf": [RATE],
    "description": "the rate, and KAZOO's keys: E164-Number, Prefix, Rate, Rate-Increment, Rate-Minimum, "
    "Surcharge, Rate-Name, Rate-Description, Base-Cost (a minimum call's cost in dollars)",
    "required": ["E164-Number", "Base-Cost"],
}
RATE_IN = {"type": "object", "required": ["prefix", "rate_cost"], "description": "a rate: the fields of a rate"}
DECKS = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {"id": TEXT, "owner_id": TEXT, "rates": {"type": "integer", "minimum": 0}},
        "required": ["id", "owner_id", "rates"],
    },
}
UPLOADED = {
    "type": "object",
    "properties": {"ratedeck_id": TEXT, "rates": {"type": "integer", "minimum": 0}},
    "required": ["ratedeck_id", "rates"],
}
DECK_QUERY = Query("ratedeck_id", {"type": "string", "pattern": f"^{DECK.pattern}$"}, "the rate deck")
DIRECTION_QUERY = Query("direction", {"type": "string", "enum": ["inbound", "outbound"]}, "the call's direction")


class Rates(Endpoint):
    noun = "rates"
    args: ClassVar = {"number": Arg(description="a phone number, E.164 or as dialled")}
    shapes = (
        Shape(
            "rates",
            {
                "GET": Op("List the rates of the decks the caller manages", listing=True, query=(DECK_QUERY,)),
                "PUT": Op("Add a rate to a deck", body=RATE_IN, reply=RATE, status=201),
                "POST": Op(
                    "Replace a deck by a CSV file",
                    reply=UPLOADED,
                    upload=True,
                    upload_types=CSV_TYPES,
                    query=(DECK_QUERY,),
                ),
            },
        ),
        Shape(
            "rates/{id}",
            {
                "GET": Op("Read a rate", reply=RATE),
                "POST": Op("Replace a rate", body=RATE_IN, reply=RATE),
                "PATCH": Op("Change fields of a rate", body={"type": "object"}, reply=RATE),
                "DELETE": Op("Delete a rate", reply=RATE),
            },
        ),
        Shape("rates/ratedecks", {"GET": Op("The decks the caller manages, with their rates", reply=DECKS)}),
        Shape(
            "rates/number/{number}",
            {"GET": Op("Rate a number by the caller's deck", reply=RATED, query=(DIRECTION_QUERY,))},
        ),
    )

    def body_limit(self, args: list[str]) -> int:
        return MAX_UPLOAD_BYTES if not args else 0

    def user_may(self, ctx: Context) -> bool:
        return ctx.shape is self.shapes[3]

    async def handle(self, ctx: Context) -> Reply:
        if ctx.shape is self.shapes[3]:
            return await self._rate_number(ctx, ctx.args[-1])
        who = await manager(ctx)
        decks = ctx.platform.ratedecks
        if ctx.shape is self.shapes[2]:
            return Reply(await decks.decks(who))
        if ctx.shape is self.shapes[0]:
            if ctx.method == "GET":
                return await self._list(ctx, who)
            if ctx.method == "PUT":
                rate = await decks.create(who, _data(ctx))
                return Reply(rate.view(), status=201, headers={"location": rate.id})
            deck = ctx.query.get("ratedeck_id") or await decks.default_deck()
            upload = await read_upload(ctx, CSV_TYPES, "a CSV rate deck", MAX_UPLOAD_BYTES)
            return Reply({"ratedeck_id": deck, "rates": await decks.upload(who, deck, upload.content)})
        rate_id = ctx.args[0]
        if ctx.method == "GET":
            rate = await decks.get(who, rate_id)
        elif ctx.method == "DELETE":
            rate = await decks.delete(who, rate_id)
        else:
            rate = await decks.replace(who, rate_id, _data(ctx), merge=ctx.method == "PATCH")
        return Reply(rate.view())

    async def _list(self, ctx: Context, who: Manager) -> Reply:
        deck = ctx.query.get("ratedeck_id")

        async def load(start: str | None, limit: int | None) -> list[dict]:
            return [_row(rate) for rate in await ctx.platform.ratedecks.page(who, deck, start, limit)]

        return await listing.respond(ctx, load, lambda doc: {k: v for k, v in doc.items() if k != "_id"})

    async def _rate_number(self, ctx: Context, number: str) -> Reply:
        direction = ctx.query.get("direction", "outbound")
        if direction not in ("inbound", "outbound"):
            raise Invalid.field("direction", "enum", "direction is inbound or outbound")
        e164 = normalize(number)
        if not is_did(e164):
            raise Invalid.field("number", "format", "Number is un-rateable", value=number)
        deck = await ctx.platform.ratedecks.deck_of(ctx.who.account_id)
        rate = await ctx.platform.rates.rate(deck, e164, direction)
        return Reply({**rate.view(), **_kazoo_fields(rate, e164)})


async def manager(ctx: Context) -> Manager:
    who = ctx.who
    node = await ctx.platform.directory.get(who.account_id)
    return Manager(who.account_id, who.superduper, node is not None and node.reseller)


def _data(ctx: Context) -> Any:
    if "data" not in ctx.envelope:
        raise Invalid.field("data", "required", "Field is required but missing")
    return ctx.data


def _kazoo_fields(rate: Rate, e164: str) -> dict[str, Any]:
    """The keys KAZOO's `rates/number` answers with, beside the rate's own: scripts written for it read these."""
    return {
        "E164-Number": e164,
        "Prefix": rate.prefix,
        "Rate": dollars(rate.rate_cost),
        "Rate-Increment": rate.rate_increment,
        "Rate-Minimum": rate.rate_minimum,
        "Surcharge": dollars(rate.rate_surcharge),
        "Rate-Name": rate.rate_name,
        "Rate-Description": rate.description,
        "Base-Cost": dollars(base_cost(rate.pricing)),
    }


def _row(rate: Rate) -> dict:
    return {"_id": rate.id, **rate.view()}


ENDPOINT = Rates()

"""/v2/accounts/{A}/ratedeck: the rate deck the account's calls are rated by. Until service plans pick it, its
reseller or a system admin sets it (`ratedeck_id`, null for the platform's default deck); the account reads it."""

from __future__ import annotations

from cloudpbx.api.context import Context, Reply
from cloudpbx.api.endpoints.base import ACCOUNT, Endpoint
from cloudpbx.api.endpoints.rates import DECK_QUERY, manager
from cloudpbx.api.paths import Op, Shape

DECK = {"type": "object", "properties": {"ratedeck_id": DECK_QUERY.schema}, "required": ["ratedeck_id"]}
DECK_IN = {"type": "object", "properties": {"ratedeck_id": {"type": "string", "nullable": True}}}


class RateDeck(Endpoint):
    noun = "ratedeck"
    shapes = (
        Shape(
            f"{ACCOUNT}/ratedeck",
            {
                "GET": Op("The account's rate deck", reply=DECK),
                "POST": Op("Set the account's rate deck (its reseller or a system admin)", DECK_IN, DECK),
            },
        ),
    )

    async def handle(self, ctx: Context) -> Reply:
        decks = ctx.platform.ratedecks
        if ctx.method == "POST":
            data = ctx.data if isinstance(ctx.data, dict) else {}
            deck = await decks.assign(await manager(ctx), ctx.node, data.get("ratedeck_id"))
        else:
            deck = await decks.deck_of(ctx.account_id)
        return Reply({"ratedeck_id": deck})


ENDPOINT = RateDeck()

"""/v2/accounts/{A}/ledgers/total: the account's balance in dollars, `{"amount": ...}`, as the launcher and the
Accounts Manager read it. The other ledger paths come with billing."""

from __future__ import annotations

from cloudpbx.accounts import ledgers
from cloudpbx.api.context import Context, Reply
from cloudpbx.api.endpoints.base import ACCOUNT, Endpoint
from cloudpbx.api.paths import Op, Shape

BALANCE = {
    "type": "object",
    "required": ["amount"],
    "properties": {"amount": {"type": "number", "description": "in dollars"}},
}


class Ledgers(Endpoint):
    noun = "ledgers"
    shapes = (Shape(f"{ACCOUNT}/ledgers/total", {"GET": Op("The account's balance", reply=BALANCE)}),)

    async def handle(self, ctx: Context) -> Reply:
        return Reply({"amount": ledgers.dollars(await ledgers.total_units(ctx.platform.store, ctx.account_id))})


ENDPOINT = Ledgers()

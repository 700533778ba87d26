"""/v2/accounts/{A}/ledgers/total: the account's balance in dollars, `{"amount": ...}`, as the launcher and the
Accounts Manager read it. The other ledger paths come with billing.

Paths: `accounts/{A}/ledgers/total` GET.
"""

from __future__ import annotations

from cloudpbx.accounts import ledgers
from cloudpbx.api.context import Context, Reply
from cloudpbx.api.endpoints.base import BadPath, Endpoint

TOTAL = "total"


class Ledgers(Endpoint):
    noun = "ledgers"

    def allowed(self, ctx: Context) -> set[str]:
        if ctx.nouns[0][0] != "accounts" or len(ctx.nouns) != 2 or ctx.args != [TOTAL]:
            raise BadPath({"message": "the balance is at /v2/accounts/{account_id}/ledgers/total"})
        return {"GET"}

    async def handle(self, ctx: Context) -> Reply:
        self.needs_account(ctx)
        return Reply({"amount": ledgers.dollars(await ledgers.total_units(ctx.platform.store, ctx.account_id))})


ENDPOINT = Ledgers()

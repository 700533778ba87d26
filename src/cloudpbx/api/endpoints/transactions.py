"""/v2/accounts/{A}/transactions (KAZOO's cb_transactions): the account's payments as its ledger holds them (created
range, newest first), one of them, and `sale`/`refund` for an ancestor of the account or a system admin (KAZOO: the
bookkeeper's vendor). With the `local` gateway a sale is a manual credit and a refund a manual debit; with Braintree a
sale charges the account's card on file and a refund gives back (part of) a sale, each written to the ledger only
once the gateway said yes."""

from __future__ import annotations

from typing import Any

from cloudpbx.api import listing
from cloudpbx.api.context import Context, Reply
from cloudpbx.api.endpoints.base import ACCOUNT, Endpoint
from cloudpbx.api.endpoints.ledgers import MAXIMUM_RANGE
from cloudpbx.api.paths import Op, Shape
from cloudpbx.billing import ledgers
from cloudpbx.billing.payments import charges
from cloudpbx.billing.payments.settings import LOCAL
from cloudpbx.errors import Invalid, Missing
from cloudpbx.store import new_id
from cloudpbx.store.ledgers import CREDIT, DEBIT, Entry

TX = f"{ACCOUNT}/transactions"
TRANSACTION = {"type": "object", "description": "a payment: amount in dollars, type credit (sale) or debit (refund)"}
BODY = {
    "type": "object",
    "required": ["amount"],
    "properties": {
        "amount": {"type": "number", "description": "dollars (whole cents through a card gateway)"},
        "description": {"type": "string"},
        "order_id": {"type": "string", "description": "the idempotency key: the same order is written once"},
        "transaction_id": {"type": "string", "description": "refund: the gateway's sale to refund"},
    },
}


class Transactions(Endpoint):
    noun = "transactions"
    payments = Shape(
        TX, {"GET": Op("The account's payments (created_from, created_to)", reply=TRANSACTION, listing=True)}
    )
    sale = Shape(f"{TX}/sale", {"PUT": Op("Credit the account by a sale", body=BODY, reply=TRANSACTION, status=201)})
    refund = Shape(f"{TX}/refund", {"PUT": Op("Refund the account", body=BODY, reply=TRANSACTION, status=201)})
    one = Shape(f"{TX}/{{id}}", {"GET": Op("One payment", reply=TRANSACTION)})
    shapes = (payments, sale, refund, one)

    def user_may(self, ctx: Context) -> bool:
        return False  # payments are admins' business: the account's or an ancestor's

    async def handle(self, ctx: Context) -> Reply:
        store = ctx.platform.store
        if ctx.shape is self.sale or ctx.shape is self.refund:
            return await _act(ctx, CREDIT if ctx.shape is self.sale else DEBIT)
        if ctx.shape is self.one:
            found = await ledgers.entry(store, ctx.account_id, ctx.args[0])
            if found is None or found.source != ledgers.PAYMENTS:
                raise Missing(ctx.args[0])
            return Reply(view(found))
        entries, _ = await ledgers.entries(store, ctx.account_id, ledgers.PAYMENTS, await _range(ctx), None, None)
        return Reply([view(entry) for entry in entries])


async def _range(ctx: Context) -> tuple[int, int]:
    """The created range asked, the last 31 days by default (at most `crossbar.maximum_range`)."""
    value = await ctx.platform.configs.value("crossbar", "maximum_range", MAXIMUM_RANGE)
    return listing.time_range(ctx, value if isinstance(value, int) and value > 0 else MAXIMUM_RANGE)


async def _act(ctx: Context, ledger_type: str) -> Reply:
    ledgers.may_write(ctx.node, ctx.who.account_id, ctx.who.superduper, None)
    body = ctx.data if isinstance(ctx.data, dict) else None
    if body is None:
        raise Invalid.field("data", "type", "Value did not match type(s): object")
    store, account_id = ctx.platform.store, ctx.node.id
    order_id = _text(body, "order_id") or new_id()
    reason = _text(body, "description") or ("Payment" if ledger_type == CREDIT else "Refund")
    gateway = await charges.gateways_of(store).current()
    if gateway.name == LOCAL:
        amount = ledgers.to_units(body.get("amount"))
        written = await charges.manual(store, account_id, ledger_type, amount, reason, order_id)
    elif ledger_type == CREDIT:
        written = await charges.charge(store, account_id, ledgers.to_units(body.get("amount")), reason, order_id)
        await charges.receipt(store, written)
    else:
        transaction_id = _text(body, "transaction_id")
        if transaction_id is None:
            raise Invalid.field("transaction_id", "required", "A refund names the gateway's sale it gives back")
        part = None if body.get("amount") is None else ledgers.to_units(body["amount"])
        written = await charges.refund(store, account_id, transaction_id, part, reason, order_id)
    return Reply(view(written.entry), status=201)


def _text(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not (isinstance(value, str) and 0 < len(value) <= 128):
        raise Invalid.field(key, "type", "Value must be a string of 1 to 128 characters")
    return value


def view(entry: Entry) -> dict[str, Any]:
    """A payment as KAZOO's transactions show it: positive dollars, credit or debit, and the gateway's ids."""
    meta = entry.metadata
    out: dict[str, Any] = {
        "id": entry.id,
        "amount": ledgers.dollars(entry.amount),
        "type": entry.ledger_type,
        "description": entry.description,
        "created": entry.created,
        "gateway": meta.get("gateway", LOCAL),
        "metadata": meta,
    }
    for key in ("order_id", "transaction_id", "status", "card", "refunded_transaction_id"):
        if key in meta:
            out[key] = meta[key]
    return out


ENDPOINT = Transactions()

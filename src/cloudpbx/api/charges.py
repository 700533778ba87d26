"""The 402 handshake (Crossbar's `accept charges`): before a write that adds billable quantity is made, the
dispatcher asks its endpoint what the write adds, prices that against the account's plans and, unless the request
says `accept_charges: true` (in data, the query string or the envelope), answers 402 with the charges Monster UI's
dialog shows. After a write that changes quantities the account's services record the change (audit, prorations).
"""

from __future__ import annotations

from cloudpbx.api.context import Context
from cloudpbx.billing.invoice import Charge
from cloudpbx.billing.ledgers import dollars
from cloudpbx.errors import Failure

WRITES = frozenset({"PUT", "POST", "PATCH", "DELETE"})


class AcceptCharges(Failure):
    """402 `accept charges`: data holds each dearer item and the activation charges in all."""

    code = 402
    message = "accept charges"


async def gate(ctx: Context, endpoint) -> bool:
    """Refuse an unaccepted chargeable write; True when the write changes quantities (its outcome is recorded)."""
    if ctx.method not in WRITES or ctx.account is None:
        return False
    additions = await endpoint.additions(ctx)
    if additions is None:
        return False
    if additions and not ctx.flag("accept_charges"):
        found = await ctx.platform.service_plans.charges(ctx.node, additions)
        if found:
            raise AcceptCharges(charges_view(found))
    return True


async def settle(ctx: Context) -> None:
    """Record what the write changed in the account's services (and its resellers')."""
    who = ctx.caller.owner_id or ctx.caller.account_id if ctx.caller else "-"
    await ctx.platform.service_plans.record(ctx.node, "quantities", who)


def charges_view(found: list[Charge]) -> dict:
    """`{category: {item: {...}}, "activation_charges": total}` in dollars, KAZOO's dry-run answer."""
    out: dict = {}
    for charge in found:
        line = charge.line
        per_unit = line.cumulative_discount // line.cumulative_units if line.cumulative_units else 0
        out.setdefault(line.category, {})[line.item] = {
            "category": line.category,
            "item": line.item,
            "name": line.name,
            "quantity": line.quantity,
            "rate": dollars(line.rate),
            "single_discount": line.single_discount > 0,
            "single_discount_rate": dollars(line.single_discount),
            "cumulative_discount": line.cumulative_units,
            "cumulative_discount_rate": dollars(per_unit),
            "activation_charges": dollars(charge.activation),
            "recurring_charges": dollars(charge.recurring),
        }
    out["activation_charges"] = dollars(sum(charge.activation for charge in found))
    return out

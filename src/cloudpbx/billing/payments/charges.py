"""Money through the gateway into the ledger: a card charge (`charge`, the seam auto-recharge and the monthly bill
use), a refund, and the `local` gateway's manual credits and debits. Each is one `payments` ledger entry, written
only after the gateway said yes and keyed by the gateway's transaction id, so it is never written twice.

A charge is asked under an idempotency key, claimed in `payment_attempts` before the gateway is asked: a duplicate
submission, in this process or another, gets the first one's entry (or a 409 while it is in flight) and is never
charged twice. A charge whose outcome is unknown (the gateway timed out) leaves its claim expired: the next try with
the same key first asks the gateway for a sale with that order id and writes its credit if there is one."""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from cloudpbx.accounts.system_configs import SystemConfigs
from cloudpbx.billing import ledgers
from cloudpbx.billing.payments.gateway import Gateway, GatewayUnavailable, NoGateway, Payment
from cloudpbx.billing.payments.settings import LOCAL, Gateways
from cloudpbx.errors import Conflicting, Failure, Invalid
from cloudpbx.notify import sending
from cloudpbx.store import Store, gregorian_now
from cloudpbx.store import ledgers as ledger_rows
from cloudpbx.store import payments as attempts
from cloudpbx.store.ledgers import CREDIT, DEBIT

CENT = 100  # units: a card moves whole cents
_GATEWAYS: weakref.WeakKeyDictionary[Store, Gateways] = weakref.WeakKeyDictionary()


def gateways_of(store: Store) -> Gateways:
    """The gateways of the platform on this store (one set per process and store, so the SDK's threads are shared)."""
    found = _GATEWAYS.get(store)
    if found is None:
        found = _GATEWAYS[store] = Gateways(SystemConfigs(store))
    return found


def close(store: Store) -> None:
    """Let the gateways of the platform on this store go (their SDK threads end once idle)."""
    found = _GATEWAYS.pop(store, None)
    if found is not None:
        found.close()


@dataclass(frozen=True)
class Asked:
    """One gateway operation under an idempotency key: what to ask, and how to find an earlier try's result."""

    key: str
    amount: int
    ledger_type: str
    reason: str
    ask: Callable[[], Awaitable[Payment]]
    find: Callable[[], Awaitable[Payment | None]] | None = None


async def charge(store: Store, account_id: str, amount_units: int, reason: str, idempotency: str) -> ledgers.Written:
    """Charge the account's card on file and credit its ledger (`payments`). A failure (no card, declined, gateway
    down or slow) raises the gateway's error and writes nothing; the same `idempotency` again never charges twice."""
    gateway = await _card_gateway(store)
    whole_cents(amount_units)
    asked = Asked(
        f"charge:{idempotency}",
        amount_units,
        CREDIT,
        reason,
        lambda: gateway.sale(account_id, amount_units, idempotency, reason),
        lambda: gateway.by_order(account_id, idempotency),
    )
    return await _run(store, account_id, gateway, asked)


async def refund(
    store: Store, account_id: str, transaction_id: str, amount_units: int | None, reason: str, idempotency: str
) -> ledgers.Written:
    """Refund (all or part of) a sale of the account to its card and debit its ledger (`payments`)."""
    gateway = await _card_gateway(store)
    if amount_units is not None:
        whole_cents(amount_units)
    asked = Asked(
        f"refund:{idempotency}",
        amount_units or 0,
        DEBIT,
        reason,
        lambda: gateway.refund(account_id, transaction_id, amount_units),
    )
    return await _run(store, account_id, gateway, asked)


async def manual(
    store: Store, account_id: str, ledger_type: str, amount_units: int, reason: str, idempotency: str
) -> ledgers.Written:
    """The `local` gateway's sale or refund: a manual credit or debit of the ledger, nothing charged."""
    change = ledgers.Change(
        ledgers.PAYMENTS,
        idempotency,
        ledger_type,
        amount_units,
        reason,
        ("payment", 1, "each"),
        metadata={"gateway": LOCAL, "order_id": idempotency},
        key=f"manual:{idempotency}",
    )
    return await ledgers.write(store, account_id, change)


async def _card_gateway(store: Store) -> Gateway:
    gateway = await gateways_of(store).current()
    if gateway.name == LOCAL:
        raise NoGateway()
    return gateway


async def receipt(store: Store, written: ledgers.Written) -> None:
    """The payment receipt (`transaction` email, to the billing contact, else the admins) of a card charge that this
    request made; a repeated request, whose charge was made before, sends none."""
    entry = written.entry
    if not written.new or entry.ledger_type != CREDIT:
        return
    card = entry.metadata.get("card") or {}
    data: dict[str, Any] = {
        "amount": str(ledgers.dollars(entry.amount)),
        "description": entry.description,
        "transaction_id": entry.metadata.get("transaction_id", ""),
        "card_last_four": card.get("last_four", "") if isinstance(card, dict) else "",
    }
    account = await store.find(entry.account_id, entry.account_id) or {}
    billing = sending.emails(((account.get("contact") or {}).get("billing") or {}).get("email"))
    if billing:
        data["to"] = billing
    await sending.send(store, entry.account_id, "transaction", data)


def whole_cents(amount_units: int) -> None:
    if amount_units % CENT:
        raise Invalid.field("amount", "multipleOf", "A card is charged in whole cents (at most 2 decimals)")


async def _run(store: Store, account_id: str, gateway: Gateway, asked: Asked) -> ledgers.Written:
    """Claim the key, ask the gateway (or find what an earlier try did), then write the entry and mark it done."""
    claim_s = int(gateway.longest_s * 2) + 10
    attempt, fresh, done = await _claim(store, account_id, asked, claim_s)
    if done is not None:
        return done
    try:
        payment = await asked.find() if asked.find is not None and not fresh else None
        payment = payment or await asked.ask()
    except GatewayUnavailable:  # down, slow or unreadable: the next try asks the gateway first
        await _release(store, attempt, forget=False)
        raise
    except Failure:  # the gateway said no: nothing was charged, the key may be used again
        await _release(store, attempt, forget=True)
        raise
    written = await ledgers.write(store, account_id, _change(gateway, asked, payment))
    async with store.write() as tx:
        await attempts.finish(tx, attempt, payment.id, written.entry.id)
    return written


async def _claim(
    store: Store, account_id: str, asked: Asked, claim_s: int
) -> tuple[attempts.Attempt, bool, ledgers.Written | None]:
    """The attempt claimed for this try and whether it is the key's first (else an earlier try, timed out or in a
    process that died, may have reached the gateway), or the entry a finished one wrote."""
    now = gregorian_now()
    async with store.write() as tx:
        attempt, created = await attempts.lock(tx, account_id, asked.key, asked.amount, now + claim_s)
        if created:
            return attempt, True, None
        if attempt.amount != asked.amount:
            raise Conflicting({"message": "this idempotency key was used for another amount", "cause": asked.key})
        if attempt.state == attempts.DONE and attempt.entry_id is not None:
            entry = await ledger_rows.get(tx, account_id, attempt.entry_id)
            assert entry is not None
            return attempt, False, ledgers.Written(entry, None, new=False)
        if attempt.claimed_until > now:
            raise Conflicting({"message": "a payment with this idempotency key is in progress", "cause": asked.key})
        await attempts.claim(tx, attempt, now + claim_s)
    return attempt, False, None


async def _release(store: Store, attempt: attempts.Attempt, *, forget: bool) -> None:
    async with store.write() as tx:
        await attempts.release(tx, attempt, forget=forget)


def _change(gateway: Gateway, asked: Asked, payment: Payment) -> ledgers.Change:
    metadata: dict[str, Any] = {"gateway": gateway.name, "transaction_id": payment.id, "status": payment.status}
    if payment.order_id:
        metadata["order_id"] = payment.order_id
    if payment.card_last_four:
        metadata["card"] = {"last_four": payment.card_last_four, "type": payment.card_type}
    if payment.refunded_transaction_id:
        metadata["refunded_transaction_id"] = payment.refunded_transaction_id
    return ledgers.Change(
        ledgers.PAYMENTS,
        payment.id,
        asked.ledger_type,
        payment.amount,
        asked.reason,
        ("payment", 1, "each"),
        metadata=metadata,
        key=f"payment:{gateway.name}:{payment.id}",
    )

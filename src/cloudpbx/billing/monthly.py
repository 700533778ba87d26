"""The monthly bill (KAZOO's services billing cycle): on the first of a month each account is charged its
recurring services for the month ahead, the prorations of what it added during the month before (and refunds of
what it removed, for items with `prorate.removals`) and the activation charges of those additions, each as one
ledger entry keyed so the bill is written once however often it runs. Then the account's billing mode says how it
is paid: `card` hands the amount to the payment seam (the card on file), `credit` is paid by the debit itself (the
account's credit), `self_manage` (the default) leaves it for the account to settle."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from cloudpbx.accounts.documents import Documents
from cloudpbx.accounts.system_configs import SystemConfigs
from cloudpbx.accounts.tree import AccountDirectory
from cloudpbx.billing import ledgers, plans
from cloudpbx.billing.low_balance import account_page
from cloudpbx.billing.payments import charges, notices
from cloudpbx.billing.services import ServicePlans
from cloudpbx.errors import Failure, Invalid, Missing
from cloudpbx.numbers.classification import Classifiers
from cloudpbx.scheduler import Run
from cloudpbx.store import Store, gregorian_now
from cloudpbx.store.ledgers import CREDIT, DEBIT

# (account id, amount in units, reason, idempotency key): charges the card on file, once per key
Pay = Callable[[str, int, str, str], Awaitable[object]]
log = logging.getLogger(__name__)
MONTH = re.compile(r"^(\d{4})-?(0[1-9]|1[0-2])$")


@dataclass
class Bill:
    """What one run wrote: entries new this run (a rerun writes none), their net charge, and how it was paid."""

    account_id: str
    month: str
    mode: str
    written: list[ledgers.Written] = field(default_factory=list)
    total: int = 0  # units newly charged (refunds taken off)
    due: int = 0  # units the month's bill comes to, written this run or before: what the card is charged
    paid_by_card: bool = False


def month_arg(value: str) -> str:
    """YYYY-MM (or YYYYMM) as the ledgers' YYYYMM."""
    found = MONTH.match(value.strip())
    if found is None:
        raise Invalid.field("month", "pattern", "A month is YYYY-MM", value=value)
    return found.group(1) + found.group(2)


def previous(month: str) -> str:
    year, mon = int(month[:4]), int(month[4:])
    return f"{year - 1}12" if mon == 1 else f"{year}{mon - 1:02d}"


def prorated(monthly: int, at: int, span: tuple[int, int]) -> int:
    """The part of a monthly amount from `at` to the end of the month, rounded half up to a unit."""
    length = span[1] - span[0] + 1
    remaining = max(0, min(length, span[1] + 1 - at))
    return (2 * monthly * remaining + length) // (2 * length)


def _services(store: Store) -> ServicePlans:
    directory = AccountDirectory(store)
    return ServicePlans(store, directory, Documents(store), Classifiers(SystemConfigs(store)))


async def bill_month(store: Store, account_id: str, month: str, pay: Pay | None = None) -> Bill:
    """Write the account's `services` and `prorations` entries for `month` (YYYY-MM) once, then apply its mode."""
    service = _services(store)
    node = await service.directory.get(account_id)
    if node is None:
        raise Missing(account_id)
    month = month_arg(month)
    span = ledgers.month_bounds(month)
    found = await service.invoice(node)
    bill = Bill(account_id, month, plans.billing_mode(found.services))
    if found.recurring > 0:
        items = {f"{line.category}.{line.item}": line.quantity for line in found.lines}
        change = ledgers.Change(
            ledgers.SERVICES,
            f"services-{month}",
            DEBIT,
            found.recurring,
            f"Monthly recurring services {month[:4]}-{month[4:]}",
            ("services", 1, "month"),
            span,
            {"items": items},
            key=f"services:{month}",
        )
        await _write(store, bill, change)
    before = ledgers.month_bounds(previous(month))
    for audit in reversed(await service.audit(node, before)):
        await _audit_charges(store, bill, audit, before)
    if bill.mode == "card" and bill.due > 0 and pay is not None:  # keyed: a rerun finds the charge made
        await pay(account_id, bill.due, f"services {month[:4]}-{month[4:]}", f"services:{month}")
        bill.paid_by_card = True
    return bill


def card_payment(store: Store, now: int | None = None) -> Pay:
    """The card on file, through the payment gateway (`charges.charge`: keyed, credited to `payments`). A charge
    that surely failed (declined, no card, no card gateway) is told to the account (`transaction_failed`) at `now`
    (the job's clock; default the wall clock); one in doubt is settled when the month's bill runs again."""

    async def pay(account_id: str, units: int, reason: str, key: str) -> object:
        try:
            return await charges.charge(store, account_id, units, reason, key)
        except Failure as exc:
            account = None if notices.in_doubt(exc) else await store.find(account_id, account_id)
            if account is not None:
                told = gregorian_now() if now is None else now
                await notices.tell(
                    store, account, "transaction_failed", units, told, description=reason, reason=notices.reason(exc)
                )
            raise

    return pay


async def bill_all(store: Store, run: Run) -> None:
    """The monthly job: every account's bill for the month of the run, a page of accounts at a time, resuming
    after the last page done. An account whose card fails keeps its bill in the ledger (it owes it), is told so and
    is logged."""
    month, pay, after = ledgers.month_of(run.now), card_payment(store, run.now), run.cursor
    while page := await account_page(store, after):
        for account in page:
            try:
                await bill_month(store, account["_id"], month, pay)
            except Failure as exc:
                log.warning("monthly bill %s of %s: %s %s", month, account["_id"], exc.message, exc.data)
        after = page[-1]["_id"]
        await run.checkpoint(after)


async def _audit_charges(store: Store, bill: Bill, audit, span: tuple[int, int]) -> None:
    """The proration and activation charges of one change made in the month before."""
    amount = prorated(int(audit.body.get("prorated_units", 0)), audit.created, span)
    usage = ("services", 1, "change")
    if amount > 0:
        change = ledgers.Change(
            ledgers.PRORATIONS,
            audit.id,
            DEBIT,
            amount,
            "Prorated services added mid-month",
            usage,
            (audit.created, span[1]),
            {"changes": audit.body.get("changes", {})},
            key=f"prorations:{audit.id}",
        )
        await _write(store, bill, change)
    refund = prorated(int(audit.body.get("refunded_units", 0)), audit.created, span)
    if refund > 0:
        change = ledgers.Change(
            ledgers.PRORATIONS,
            f"{audit.id}-refund",
            CREDIT,
            refund,
            "Prorated refund of services removed mid-month",
            usage,
            (audit.created, span[1]),
            {"changes": audit.body.get("changes", {})},
            key=f"refunds:{audit.id}",
        )
        await _write(store, bill, change)
    activation = int(audit.body.get("activation_units", 0))
    if activation > 0:
        change = ledgers.Change(
            ledgers.SERVICES,
            audit.id,
            DEBIT,
            activation,
            "Activation charges",
            usage,
            (audit.created, audit.created),
            {"changes": audit.body.get("changes", {})},
            key=f"activation:{audit.id}",
        )
        await _write(store, bill, change)


async def _write(store: Store, bill: Bill, change: ledgers.Change) -> None:
    """One entry, dated now (its period says which month it pays); a rerun finds its key and writes nothing."""
    written = await ledgers.write(store, bill.account_id, change)
    bill.due += -written.entry.signed
    if written.new:
        bill.written.append(written)
        bill.total += -written.entry.signed

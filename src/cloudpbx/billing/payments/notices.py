"""What an account is told of a card charge the platform made for it on its own (auto-recharge, the monthly bill):
the email goes to the billing contact, else the account's admins, and is delivered at once, as the threshold alert
is, since the job's process may end after its run. An email that cannot be queued is logged, never undoing or
failing the charge."""

from __future__ import annotations

import logging
from typing import Any

from cloudpbx.billing import ledgers
from cloudpbx.billing.payments.gateway import GatewayUnavailable, NoGateway, NoPaymentToken
from cloudpbx.errors import Conflicting, Failure
from cloudpbx.notify import outbox, sending
from cloudpbx.store import Doc, Store

log = logging.getLogger(__name__)


def in_doubt(exc: Failure) -> bool:
    """The gateway did not answer, or an earlier try still holds the charge's key: it may yet have been made."""
    return isinstance(exc, GatewayUnavailable | Conflicting)


def reason(exc: Failure) -> str:
    """The failure in words for the email: the processor's own for a decline."""
    if isinstance(exc, NoPaymentToken):
        return "there is no card on file"
    if isinstance(exc, NoGateway):
        return "the platform takes no cards (credit is added by hand)"
    if in_doubt(exc):
        return "the payment gateway did not answer; the charge is checked again later"
    text = exc.data.get("message") if isinstance(exc.data, dict) else None
    return text if isinstance(text, str) and text else exc.message


async def tell(store: Store, account: Doc, template_id: str, amount: int, now: int, **data: Any) -> None:
    """Queue and deliver the notification `template_id` of `amount` units with `data`."""
    billing = sending.emails(((account.get("contact") or {}).get("billing") or {}).get("email"))
    if billing:
        data["to"] = billing
    try:
        data["amount"] = str(ledgers.dollars(amount))
        ident = await sending.queue(store, account["_id"], template_id, data, now=now)
        if ident is not None:
            await outbox.deliver(store, account["_id"], ident, now)
    except Exception:  # the charge stands whatever the email does
        log.exception("payment notification %s of %s", template_id, account["_id"])

"""Braintree through its official SDK (KAZOO's bookkeeper). The SDK blocks on HTTP, so every call runs on this
gateway's own few threads, at most `max_concurrent` at once, and is bounded twice: the SDK's HTTP timeout and a wait
on the event loop a little longer than it. A customer at Braintree has its account's id, as in KAZOO; what Braintree
answers is turned into the gateway interface's types, which hold no card number."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import urlsplit

import braintree  # type: ignore[import-untyped]
from braintree.exceptions.authentication_error import AuthenticationError  # type: ignore[import-untyped]
from braintree.exceptions.authorization_error import AuthorizationError  # type: ignore[import-untyped]
from braintree.exceptions.braintree_error import BraintreeError  # type: ignore[import-untyped]
from braintree.exceptions.gateway_timeout_error import GatewayTimeoutError  # type: ignore[import-untyped]
from braintree.exceptions.http.timeout_error import TimeoutError as HttpTimeout  # type: ignore[import-untyped]
from braintree.exceptions.not_found_error import NotFoundError  # type: ignore[import-untyped]
from braintree.exceptions.request_timeout_error import RequestTimeoutError  # type: ignore[import-untyped]

from cloudpbx.billing.payments.forms import ADDRESS
from cloudpbx.billing.payments.gateway import (
    Address,
    Card,
    Customer,
    Declined,
    Fields,
    GatewayRejected,
    GatewayUnavailable,
    NoPaymentToken,
    Payment,
)
from cloudpbx.errors import Missing

UNITS_PER_DOLLAR = 10_000
# Braintree's validation codes meaning "nothing to charge": no card for the customer, no such customer (KAZOO's list).
NO_PAYMENT_TOKEN_CODES = {"91511", "91510", "81571"}
SLOW = (HttpTimeout, RequestTimeoutError, GatewayTimeoutError)
T = TypeVar("T")


@dataclass(frozen=True)
class BraintreeSettings:
    """System config `braintree`: credentials, `environment` (sandbox, production, or an http(s) URL of a gateway
    such as a local test peer), the SDK's HTTP timeout and how many calls may be in flight at once."""

    merchant_id: str
    public_key: str
    private_key: str
    environment: str = "sandbox"
    timeout_s: float = 20.0
    max_concurrent: int = 4


def environment(value: str) -> Any:
    """A named Braintree environment, or one at a URL (http on any port, https on 443)."""
    if value in braintree.Environment.All:
        return braintree.Environment.All[value]
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not a Braintree environment: {value!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if (parts.scheme == "https") != (port == 443):
        raise ValueError("the SDK speaks https on port 443 only, and http on any other")
    return braintree.Environment("custom", parts.hostname, str(port), "", port == 443, None)


class BraintreeGateway:
    name = "braintree"

    def __init__(self, settings: BraintreeSettings):
        config = braintree.Configuration(
            environment(settings.environment),
            settings.merchant_id,
            public_key=settings.public_key,
            private_key=settings.private_key,
            timeout=settings.timeout_s,
            wrap_http_exceptions=True,  # the SDK's own errors, not the HTTP library's
        )
        self.settings = settings
        self._sdk = braintree.BraintreeGateway(config)
        self._pool = ThreadPoolExecutor(max_workers=settings.max_concurrent, thread_name_prefix="braintree")
        self._slots = asyncio.Semaphore(settings.max_concurrent)

    @property
    def longest_s(self) -> float:
        """The longest one call may take, queueing included."""
        return self.settings.timeout_s * 2 + 1

    def close(self) -> None:
        self._pool.shutdown(wait=False)

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run one blocking SDK call off the loop. A slot is held until the thread is done, even when the caller
        gave up waiting, so a stalled gateway never piles up more threads than `max_concurrent`."""
        loop, bound = asyncio.get_running_loop(), self.longest_s  # a search is two requests
        try:
            async with asyncio.timeout(bound):
                await self._slots.acquire()
                future = loop.run_in_executor(self._pool, functools.partial(fn, *args))
                future.add_done_callback(lambda _: self._slots.release())
                return await asyncio.shield(future)
        except TimeoutError as exc:
            raise _unavailable("timeout", f"the card processor did not answer within {bound:g} s") from exc
        except (AuthenticationError, AuthorizationError) as exc:
            raise _unavailable("authentication", "Failed to authenticate with the card processor") from exc
        except NotFoundError:
            raise
        except SLOW as exc:
            raise _unavailable("timeout", "the card processor did not answer in time") from exc
        except BraintreeError as exc:
            text = f"Unable to complete the request with the card processor: {_kind(exc)}"
            raise _unavailable("io_fault", text) from exc
        except Exception as exc:  # an answer the SDK could not read (not XML, missing fields)
            raise _unavailable("io_fault", f"Unreadable answer from the card processor: {_kind(exc)}") from exc

    async def customer(self, account_id: str) -> Customer | None:
        try:
            return _customer(await self._call(self._sdk.customer.find, account_id))
        except NotFoundError:
            return None

    async def save_customer(self, account_id: str, fields: Fields) -> Customer:
        card = fields.pop("credit_card", None)
        if await self.customer(account_id) is None:
            found = _checked(await self._call(self._sdk.customer.create, {"id": account_id, **fields})).customer
        else:
            found = _checked(await self._call(self._sdk.customer.update, account_id, fields)).customer
        if card is not None:
            await self.add_card(account_id, card)
            return await self.customer(account_id) or _customer(found)
        return _customer(found)

    async def add_card(self, account_id: str, fields: Fields) -> Card:
        if await self.customer(account_id) is None:
            _checked(await self._call(self._sdk.customer.create, {"id": account_id}))
        result = await self._call(self._sdk.credit_card.create, {**fields, "customer_id": account_id})
        return _card(_checked(result).credit_card)

    async def delete_card(self, account_id: str, token: str) -> Card:
        customer = await self.customer(account_id)
        card = next((c for c in customer.cards if c.token == token), None) if customer else None
        if card is None:
            raise Missing(token)
        await self._call(self._sdk.credit_card.delete, token)
        return card

    async def add_address(self, account_id: str, fields: Fields) -> Address:
        if await self.customer(account_id) is None:
            _checked(await self._call(self._sdk.customer.create, {"id": account_id}))
        result = await self._call(self._sdk.address.create, {**fields, "customer_id": account_id})
        return _address(_checked(result).address)

    async def delete_address(self, account_id: str, address_id: str) -> Address:
        customer = await self.customer(account_id)
        address = next((a for a in customer.addresses if a.id == address_id), None) if customer else None
        if address is None:
            raise Missing(address_id)
        await self._call(self._sdk.address.delete, account_id, address_id)
        return address

    async def transactions(self, account_id: str) -> list[Payment]:
        return await self._search(braintree.TransactionSearch.customer_id == account_id)

    async def transaction(self, account_id: str, transaction_id: str) -> Payment | None:
        try:
            found = _payment(await self._call(self._sdk.transaction.find, transaction_id))
        except NotFoundError:
            return None
        return found if found.customer_id == account_id else None

    async def by_order(self, account_id: str, order_id: str) -> Payment | None:
        search = braintree.TransactionSearch
        found = await self._search(search.customer_id == account_id, search.order_id == order_id)
        return next((payment for payment in found if payment.kind == "sale" and _succeeded(payment.status)), None)

    async def _search(self, *terms: Any) -> list[Payment]:
        def run() -> list[Any]:
            return list(self._sdk.transaction.search(*terms).items)

        return [_payment(found) for found in await self._call(run)]

    async def sale(self, account_id: str, amount: int, order_id: str, description: str) -> Payment:
        params = {
            "amount": _dollars(amount),
            "customer_id": account_id,
            "order_id": order_id,
            "options": {"submit_for_settlement": True},
        }
        return _payment(_checked(await self._call(self._sdk.transaction.sale, params)).transaction)

    async def refund(self, account_id: str, transaction_id: str, amount: int | None) -> Payment:
        if await self.transaction(account_id, transaction_id) is None:
            raise Missing(transaction_id)
        result = await self._call(
            self._sdk.transaction.refund, transaction_id, None if amount is None else _dollars(amount)
        )
        return _payment(_checked(result).transaction)


def _checked(result: Any) -> Any:
    """A successful result, or the failure KAZOO's bookkeeper maps it to: a declined transaction is 402 with the
    processor's text, a customer without a card 402 `no_payment_token`, any other validation error 400."""
    if result.is_success:
        return result
    declined = getattr(result, "transaction", None)
    if declined is not None:
        text = declined.processor_response_text or getattr(declined, "gateway_rejection_reason", None) or "Declined"
        raise Declined(
            text,
            {
                "reason": declined.status,
                "processor_response_code": declined.processor_response_code or "",
                "processor_response_text": declined.processor_response_text or "",
                "transaction_id": declined.id,
            },
        )
    errors = [{"code": e.code, "message": e.message, "attribute": e.attribute} for e in result.errors.deep_errors]
    if any(str(error["code"]) in NO_PAYMENT_TOKEN_CODES for error in errors):
        raise NoPaymentToken()
    raise GatewayRejected({"message": result.message, "errors": errors})


def _unavailable(reason: str, text: str) -> GatewayUnavailable:
    return GatewayUnavailable({"reason": reason, "message": text})


def _kind(exc: BaseException) -> str:
    """The SDK's exception class name: its messages may quote the request."""
    return type(exc).__name__


def _succeeded(status: str) -> bool:
    return status in ("authorized", "submitted_for_settlement", "settling", "settlement_pending", "settled")


def _dollars(units: int) -> Decimal:
    return (Decimal(units) / UNITS_PER_DOLLAR).quantize(Decimal("0.01"))


def _customer(found: Any) -> Customer:
    fields = {k: getattr(found, k, None) for k in ("first_name", "last_name", "company", "email", "phone")}
    return Customer(
        found.id,
        {k: v for k, v in fields.items() if v},
        tuple(_card(card) for card in getattr(found, "credit_cards", None) or ()),
        tuple(_address(address) for address in getattr(found, "addresses", None) or ()),
    )


def _card(found: Any) -> Card:
    address = getattr(found, "billing_address", None)
    return Card(
        found.token,
        found.customer_id,
        found.last_4 or "",
        found.card_type or "",
        found.expiration_month or "",
        found.expiration_year or "",
        getattr(found, "cardholder_name", None) or "",
        bool(getattr(found, "default", False)),
        getattr(address, "id", None),
    )


def _address(found: Any) -> Address:
    fields = {k: getattr(found, k, None) for k in ADDRESS}
    return Address(found.id, found.customer_id, {k: v for k, v in fields.items() if v})


def _payment(found: Any) -> Payment:
    card = getattr(found, "credit_card_details", None)
    customer = getattr(found, "customer_details", None)
    created = getattr(found, "created_at", None)
    return Payment(
        found.id,
        found.type,
        found.status,
        int(Decimal(found.amount) * UNITS_PER_DOLLAR),
        getattr(customer, "id", None),
        getattr(found, "order_id", None),
        created.isoformat() if created is not None else "",
        getattr(card, "last_4", None) or "",
        getattr(card, "card_type", None) or "",
        getattr(found, "refunded_transaction_id", None),
        getattr(found, "processor_response_code", None) or "",
        getattr(found, "processor_response_text", None) or "",
    )

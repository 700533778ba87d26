"""The payment-gateway interface every gateway implements, what it answers (customers, cards, addresses, gateway
transactions, amounts in units) and how it fails, named as KAZOO's bookkeeper errors reach Crossbar clients.

No card number is ever part of an answer: a card is the gateway's token, its last four digits, type and expiry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from cloudpbx.errors import Failure

Fields = dict[str, Any]  # what a client asked to save, already checked (strings; a card's `number` only passes through)


@dataclass(frozen=True)
class Card:
    token: str
    customer_id: str
    last_four: str
    card_type: str
    expiration_month: str
    expiration_year: str
    cardholder_name: str = ""
    default: bool = False
    billing_address_id: str | None = None


@dataclass(frozen=True)
class Address:
    id: str
    customer_id: str
    fields: Fields = field(default_factory=dict)  # first_name, street_address, locality, postal_code, ...


@dataclass(frozen=True)
class Customer:
    id: str
    fields: Fields = field(default_factory=dict)  # first_name, last_name, company, email, phone
    cards: tuple[Card, ...] = ()
    addresses: tuple[Address, ...] = ()

    @property
    def default_card(self) -> Card | None:
        return next((card for card in self.cards if card.default), self.cards[0] if self.cards else None)


@dataclass(frozen=True)
class Payment:
    """A transaction at the gateway: a `sale` (money in) or a `credit` (a refund, money out)."""

    id: str
    kind: str
    status: str
    amount: int  # units
    customer_id: str | None
    order_id: str | None
    created: str  # ISO 8601, as the gateway gives it
    card_last_four: str = ""
    card_type: str = ""
    refunded_transaction_id: str | None = None
    processor_response_code: str = ""
    processor_response_text: str = ""


class Gateway(Protocol):
    """What the platform asks of a payment gateway; a customer's id is its account's id."""

    name: str

    @property
    def longest_s(self) -> float:
        """The longest one call may take."""
        ...

    async def customer(self, account_id: str) -> Customer | None: ...
    async def save_customer(self, account_id: str, fields: Fields) -> Customer: ...
    async def add_card(self, account_id: str, fields: Fields) -> Card: ...
    async def delete_card(self, account_id: str, token: str) -> Card: ...
    async def add_address(self, account_id: str, fields: Fields) -> Address: ...
    async def delete_address(self, account_id: str, address_id: str) -> Address: ...
    async def transactions(self, account_id: str) -> list[Payment]: ...
    async def transaction(self, account_id: str, transaction_id: str) -> Payment | None: ...
    async def by_order(self, account_id: str, order_id: str) -> Payment | None: ...
    async def sale(self, account_id: str, amount: int, order_id: str, description: str) -> Payment: ...
    async def refund(self, account_id: str, transaction_id: str, amount: int | None) -> Payment: ...


class Declined(Failure):
    """402 with the processor's own words: the card was declined (or the gateway refused the sale)."""

    code = 402

    def __init__(self, text: str, detail: dict[str, Any]):
        super().__init__({"message": text, **detail}, text or "declined")


class NoPaymentToken(Failure):
    """402: the account has no card on file to charge."""

    code = 402
    message = "no_payment_token"

    def __init__(self):
        super().__init__({"no_payment_token": "No credit card found"})


class GatewayRejected(Failure):
    """400 `braintree api error`: the gateway refused what was sent (a bad card number, expiry, address)."""

    code = 400
    message = "braintree api error"


class GatewayUnavailable(Failure):
    """503: the gateway could not be reached, refused our credentials, or did not answer in time. For a charge the
    outcome may be unknown: a retry with the same idempotency key first asks the gateway what became of it."""

    code = 503
    message = "io_fault"


class NoGateway(Failure):
    """400 `invalid_bookkeeper`: the platform's gateway is `local` (manual credits only), so there is no card to
    keep or charge."""

    code = 400
    message = "invalid_bookkeeper"

    def __init__(self):
        super().__init__({"message": "payments are manual credits here: the platform has no card gateway configured"})

"""/v2/accounts/{A}/braintree (KAZOO's cb_braintree): the account's customer, cards and addresses as the gateway keeps
them, its gateway transactions, and `credits` (the balance; PUT charges the card on file and credits the ledger).
Admins of the account and of its ancestors only. What is answered comes from the gateway each time: the platform
keeps no card, and a card is shown by its token, last four digits, type and expiry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from cloudpbx.api.context import Context, Reply
from cloudpbx.api.endpoints.base import ACCOUNT, Endpoint
from cloudpbx.api.paths import Arg, Op, Shape
from cloudpbx.billing import ledgers
from cloudpbx.billing.payments import charges, forms
from cloudpbx.billing.payments.gateway import Address, Card, Customer, Payment
from cloudpbx.errors import Invalid, Missing
from cloudpbx.store import new_id

BT = f"{ACCOUNT}/braintree"
GATEWAY_ID = Arg(r"[A-Za-z0-9_-]{1,64}", description="an id the gateway gave")
OBJECT = {"type": "object"}
CREDIT_BODY = {
    "type": "object",
    "required": ["amount"],
    "properties": {
        "amount": {"type": "number", "description": "dollars, whole cents"},
        "order_id": {"type": "string", "description": "the idempotency key: the same order is charged once"},
        "description": {"type": "string"},
    },
}


class Braintree(Endpoint):
    noun = "braintree"
    args: ClassVar[Mapping[str, Arg]] = {"card_id": GATEWAY_ID, "address_id": GATEWAY_ID, "transaction_id": GATEWAY_ID}
    customer = Shape(
        f"{BT}/customer",
        {
            "GET": Op("The account's customer at the gateway", reply=OBJECT),
            "POST": Op("Create or change the customer (and add a credit_card)", body=OBJECT, reply=OBJECT),
        },
    )
    cards = Shape(
        f"{BT}/cards",
        {
            "GET": Op("The customer's cards", reply=OBJECT, listing=True),
            "PUT": Op("Add a card", body=OBJECT, reply=OBJECT, status=201),
        },
    )
    card = Shape(
        f"{BT}/cards/{{card_id}}", {"GET": Op("A card", reply=OBJECT), "DELETE": Op("Remove a card", reply=OBJECT)}
    )
    addresses = Shape(
        f"{BT}/addresses",
        {
            "GET": Op("The customer's addresses", reply=OBJECT, listing=True),
            "PUT": Op("Add an address", body=OBJECT, reply=OBJECT, status=201),
        },
    )
    address = Shape(
        f"{BT}/addresses/{{address_id}}",
        {"GET": Op("An address", reply=OBJECT), "DELETE": Op("Remove an address", reply=OBJECT)},
    )
    transactions = Shape(
        f"{BT}/transactions", {"GET": Op("The customer's gateway transactions", reply=OBJECT, listing=True)}
    )
    transaction = Shape(f"{BT}/transactions/{{transaction_id}}", {"GET": Op("A gateway transaction", reply=OBJECT)})
    credits = Shape(
        f"{BT}/credits",
        {
            "GET": Op("The account's balance", reply=OBJECT),
            "PUT": Op("Charge the card on file and credit the account", body=CREDIT_BODY, reply=OBJECT, status=201),
        },
    )
    shapes = (customer, cards, card, addresses, address, transactions, transaction, credits)

    def user_may(self, ctx: Context) -> bool:
        return False  # payment details are admins' business: the account's or an ancestor's

    async def handle(self, ctx: Context) -> Reply:
        account_id, shape = ctx.node.id, ctx.shape
        if shape is self.credits:
            return await _credits(ctx)
        gateway = await charges.gateways_of(ctx.platform.store).current()
        if shape is self.customer and ctx.method == "POST":
            return Reply(customer_view(await gateway.save_customer(account_id, forms.customer(ctx.data))))
        if shape is self.cards and ctx.method == "PUT":
            return Reply(card_view(await gateway.add_card(account_id, forms.card(ctx.data))), status=201)
        if shape is self.addresses and ctx.method == "PUT":
            return Reply(address_view(await gateway.add_address(account_id, forms.address(ctx.data))), status=201)
        if shape is self.card and ctx.method == "DELETE":
            return Reply(card_view(await gateway.delete_card(account_id, ctx.args[-1])))
        if shape is self.address and ctx.method == "DELETE":
            return Reply(address_view(await gateway.delete_address(account_id, ctx.args[-1])))
        if shape is self.transactions:
            return Reply([payment_view(p) for p in await gateway.transactions(account_id)])
        if shape is self.transaction:
            found = await gateway.transaction(account_id, ctx.args[-1])
            if found is None:
                raise Missing(ctx.args[-1])
            return Reply(payment_view(found))
        return _from_customer(self, ctx, await gateway.customer(account_id) or Customer(account_id))


def _from_customer(endpoint: Braintree, ctx: Context, customer: Customer) -> Reply:
    """GET of the customer, its cards or addresses, or one of them: all read from the customer record."""
    shape = ctx.shape
    if shape is endpoint.cards:
        return Reply([card_view(card) for card in customer.cards])
    if shape is endpoint.addresses:
        return Reply([address_view(address) for address in customer.addresses])
    if shape is endpoint.card:
        found_card = next((c for c in customer.cards if c.token == ctx.args[-1]), None)
        if found_card is None:
            raise Missing(ctx.args[-1])
        return Reply(card_view(found_card))
    if shape is endpoint.address:
        found_address = next((a for a in customer.addresses if a.id == ctx.args[-1]), None)
        if found_address is None:
            raise Missing(ctx.args[-1])
        return Reply(address_view(found_address))
    return Reply(customer_view(customer))


async def _credits(ctx: Context) -> Reply:
    store, account_id = ctx.platform.store, ctx.node.id
    if ctx.method == "GET":
        return Reply({"amount": ledgers.dollars(await ledgers.balance_units(store, account_id))})
    body = ctx.data if isinstance(ctx.data, dict) else None
    if body is None:
        raise Invalid.field("data", "type", "Value did not match type(s): object")
    amount = ledgers.to_units(body.get("amount"))
    order_id, reason = _text(body, "order_id") or new_id(), _text(body, "description") or "Credit card payment"
    written = await charges.charge(store, account_id, amount, reason, order_id)
    await charges.receipt(store, written)
    return Reply(ledgers.view(written.entry, ctx.node), status=201)


def _text(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not (isinstance(value, str) and 0 < len(value) <= 128):
        raise Invalid.field(key, "type", "Value must be a string of 1 to 128 characters")
    return value


def card_view(card: Card) -> dict[str, Any]:
    return {
        "id": card.token,
        "customer_id": card.customer_id,
        "last_four": card.last_four,
        "card_type": card.card_type,
        "expiration_month": card.expiration_month,
        "expiration_year": card.expiration_year,
        "cardholder_name": card.cardholder_name,
        "default": card.default,
        "billing_address_id": card.billing_address_id,
    }


def address_view(address: Address) -> dict[str, Any]:
    return {**address.fields, "id": address.id, "customer_id": address.customer_id}


def customer_view(customer: Customer) -> dict[str, Any]:
    return {
        **customer.fields,
        "id": customer.id,
        "credit_cards": [card_view(card) for card in customer.cards],
        "addresses": [address_view(address) for address in customer.addresses],
    }


def payment_view(payment: Payment) -> dict[str, Any]:
    return {
        "id": payment.id,
        "type": payment.kind,
        "status": payment.status,
        "amount": ledgers.dollars(payment.amount),
        "customer_id": payment.customer_id,
        "order_id": payment.order_id,
        "created_at": payment.created,
        "card": {"last_four": payment.card_last_four, "card_type": payment.card_type},
        "refunded_transaction_id": payment.refunded_transaction_id,
        "processor_response_code": payment.processor_response_code,
        "processor_response_text": payment.processor_response_text,
    }


ENDPOINT = Braintree()

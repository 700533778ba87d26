"""The `local` gateway, the default: money comes in as manual credits only (an ancestor's `transactions/sale`), so
it keeps no customers or cards and charges nothing; every card operation is refused with `invalid_bookkeeper`."""

from __future__ import annotations

from typing import NoReturn

from cloudpbx.billing.payments.gateway import Address, Card, Customer, Fields, NoGateway, Payment


def _refuse() -> NoReturn:
    raise NoGateway()


class LocalGateway:
    name = "local"
    longest_s = 0.0

    async def customer(self, account_id: str) -> Customer | None:
        _refuse()

    async def save_customer(self, account_id: str, fields: Fields) -> Customer:
        _refuse()

    async def add_card(self, account_id: str, fields: Fields) -> Card:
        _refuse()

    async def delete_card(self, account_id: str, token: str) -> Card:
        _refuse()

    async def add_address(self, account_id: str, fields: Fields) -> Address:
        _refuse()

    async def delete_address(self, account_id: str, address_id: str) -> Address:
        _refuse()

    async def transactions(self, account_id: str) -> list[Payment]:
        _refuse()

    async def transaction(self, account_id: str, transaction_id: str) -> Payment | None:
        _refuse()

    async def by_order(self, account_id: str, order_id: str) -> Payment | None:
        _refuse()

    async def sale(self, account_id: str, amount: int, order_id: str, description: str) -> Payment:
        _refuse()

    async def refund(self, account_id: str, transaction_id: str, amount: int | None) -> Payment:
        _refuse()

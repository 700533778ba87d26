"""Payments through a real server and the real Braintree SDK against a local Braintree peer: the local gateway's
manual credits, a card on file charged into the ledger, a declined card, a gateway that does not answer in time, a
duplicate submission, refunds, who may do what, the `charge` seam, and no card number in the store or the logs."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from cloudpbx.billing import ledgers
from cloudpbx.billing.payments import charges
from cloudpbx.billing.payments.gateway import Declined, NoGateway
from cloudpbx.store import new_id, open_store
from cloudpbx.store.tables import metadata
from tests.billing.braintree_peer import DECLINING, GOOD_CARD, MERCHANT, PRIVATE_KEY, PUBLIC_KEY, BraintreePeer
from tests.conftest import LOGS
from tests.helpers import Client, unique
from tests.notify.smtp_sink import address

GATEWAY_TIMEOUT_S = 1


@pytest.fixture(scope="module")
def peer():
    started = BraintreePeer().start()
    yield started
    started.stop()


def configure(master, category: str, body: dict) -> None:
    path = f"system_configs/{category}"
    resp = master.put(path, body)
    if resp.status_code == 409:
        resp = master.post(path, body)
    assert resp.status_code in (200, 201), resp.text


@pytest.fixture
def braintree_on(master, peer):
    """The platform's gateway is Braintree at the peer for one test, then local again."""
    settings = {
        "merchant_id": MERCHANT,
        "public_key": PUBLIC_KEY,
        "private_key": PRIVATE_KEY,
        "environment": peer.url,
        "timeout_s": GATEWAY_TIMEOUT_S,
    }
    configure(master, "braintree", {"default": settings})
    configure(master, "payments", {"default": {"gateway": "braintree"}})
    yield peer
    peer.stall_sales_s = 0
    configure(master, "payments", {"default": {"gateway": "local"}})


@pytest.fixture(scope="module")
def world(master):
    """master → reseller R → customer C → sub S; R → sibling X."""
    r = master.create_account(master.account_id, unique("Pay Reseller"))
    assert master.put(f"accounts/{r['id']}/reseller").status_code == 200
    c = master.create_account(r["id"], unique("Pay Customer"))
    s = master.create_account(c["id"], unique("Pay Sub"))
    x = master.create_account(r["id"], unique("Pay Sibling"))
    admins = {f"{n}_admin": master.admin_of(a["id"]) for n, a in (("r", r), ("c", c), ("s", s), ("x", x))}
    return SimpleNamespace(master=master, r=r, c=c, s=s, x=x, **admins)


def customer_with_card(world, number: str = GOOD_CARD) -> tuple[dict, Client]:
    """A new account of the reseller whose admin saved a customer with a card at the gateway."""
    account = world.master.create_account(world.r["id"], unique("Pay Card"))
    admin = world.master.admin_of(account["id"])
    card = {"number": number, "expiration_date": "12/2030", "cvv": "123", "cardholder_name": "Ann Smith"}
    resp = admin.post(f"accounts/{account['id']}/braintree/customer", {"first_name": "Ann", "credit_card": card})
    assert resp.status_code == 200, resp.text
    assert [c["last_four"] for c in resp.json()["data"]["credit_cards"]] == [number[-4:]]
    return account, admin


def balance(client, account: dict):
    resp = client.get(f"accounts/{account['id']}/braintree/credits")
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]["amount"]


def payments(client, account: dict) -> list[dict]:
    resp = client.get(f"accounts/{account['id']}/transactions")
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]


def credit(client, account: dict, amount, order_id: str | None = None):
    body = {"amount": amount, **({"order_id": order_id} if order_id else {})}
    return client.put(f"accounts/{account['id']}/braintree/credits", body)


def test_local_gateway_takes_manual_credits_from_an_ancestor_only(world):
    acc = world.master.create_account(world.r["id"], unique("Pay Local"))
    admin = world.master.admin_of(acc["id"])
    refused = admin.get(f"accounts/{acc['id']}/braintree/customer")
    assert refused.status_code == 400 and refused.json()["message"] == "invalid_bookkeeper", refused.text
    assert credit(admin, acc, 10).json()["message"] == "invalid_bookkeeper"
    sale = {"amount": 12.5, "order_id": "cheque-1", "description": "Cheque"}
    assert admin.put(f"accounts/{acc['id']}/transactions/sale", sale).status_code == 403, "never the account itself"
    first = world.r_admin.put(f"accounts/{acc['id']}/transactions/sale", sale)
    again = world.r_admin.put(f"accounts/{acc['id']}/transactions/sale", sale)
    assert first.status_code == again.status_code == 201, first.text
    assert first.json()["data"]["id"] == again.json()["data"]["id"], "the same order is written once"
    assert first.json()["data"]["type"] == "credit" and first.json()["data"]["gateway"] == "local"
    back = world.r_admin.put(f"accounts/{acc['id']}/transactions/refund", {"amount": 2.5, "order_id": "back-1"})
    assert back.status_code == 201 and back.json()["data"]["type"] == "debit", back.text
    assert balance(admin, acc) == 10
    assert {p["order_id"] for p in payments(admin, acc)} == {"cheque-1", "back-1"}
    one = admin.get(f"accounts/{acc['id']}/transactions/{first.json()['data']['id']}")
    assert one.status_code == 200 and one.json()["data"]["amount"] == 12.5
    assert admin.get(f"accounts/{acc['id']}/transactions/{new_id()}").status_code == 404
    for bad in ({"amount": 0}, {"amount": "5"}, {"amount": 1.00001}, {"amount": 5, "order_id": 7}):
        resp = world.r_admin.put(f"accounts/{acc['id']}/transactions/sale", bad)
        assert resp.status_code == 400 and resp.json()["message"] == "validation error", (bad, resp.text)
    assert balance(admin, acc) == 10


def test_a_credit_charges_the_card_once_and_credits_the_ledger(world, braintree_on):
    peer = braintree_on
    acc, admin = customer_with_card(world)
    resp = credit(admin, acc, 25, "order-25")
    assert resp.status_code == 201, resp.text
    entry = resp.json()["data"]
    sales = peer.sales(acc["id"])
    assert [(s["amount"], s["order_id"]) for s in sales] == [("25.00", "order-25")]
    assert entry["amount"] == 25 and entry["source"]["service"] == "payments"
    assert entry["metadata"]["transaction_id"] == sales[0]["id"] == entry["source"]["id"]
    assert entry["metadata"]["card"] == {"last_four": "1111", "type": "Visa"}
    assert balance(admin, acc) == 25

    again = credit(admin, acc, 25, "order-25")
    assert again.status_code == 201 and again.json()["data"]["id"] == entry["id"], "a duplicate gets the first entry"
    assert len(peer.sales(acc["id"])) == 1, "and is not charged again"
    other = credit(admin, acc, 30, "order-25")
    assert other.status_code == 409, "the same order for another amount"
    assert balance(admin, acc) == 25

    listed = admin.get(f"accounts/{acc['id']}/braintree/transactions").json()["data"]
    assert [(t["id"], t["amount"], t["type"]) for t in listed] == [(sales[0]["id"], 25, "sale")]
    one = admin.get(f"accounts/{acc['id']}/braintree/transactions/{sales[0]['id']}")
    assert one.status_code == 200 and one.json()["data"]["order_id"] == "order-25"
    assert [p["transaction_id"] for p in payments(admin, acc)] == [sales[0]["id"]]
    cents = credit(admin, acc, 1.001)
    assert cents.status_code == 400 and "amount" in cents.json()["data"], "a card moves whole cents"


def test_concurrent_duplicates_charge_once(world, braintree_on):
    peer = braintree_on
    acc, admin = customer_with_card(world)
    peer.stall_sales_s = GATEWAY_TIMEOUT_S / 2  # the first is still at the gateway when the others arrive
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: credit(admin, acc, 40, "double-click"), range(4)))
    peer.stall_sales_s = 0
    assert {a.status_code for a in answers} <= {201, 409}, [a.text for a in answers]
    assert len({a.json()["data"]["id"] for a in answers if a.status_code == 201}) == 1
    assert len(peer.sales(acc["id"])) == 1
    assert credit(admin, acc, 40, "double-click").status_code == 201
    assert balance(admin, acc) == 40 and len(peer.sales(acc["id"])) == 1


def test_a_declined_card_is_402_with_the_processors_words_and_writes_nothing(world, braintree_on):
    acc, admin = customer_with_card(world, DECLINING)
    resp = credit(admin, acc, 20, "order-d")
    assert resp.status_code == 402, resp.text
    body = resp.json()
    assert body["message"] == "Do Not Honor" and body["data"]["processor_response_code"] == "2000"
    assert balance(admin, acc) == 0 and payments(admin, acc) == []
    good = {"number": GOOD_CARD, "expiration_date": "01/2031", "make_default": True}
    added = admin.put(f"accounts/{acc['id']}/braintree/cards", good)
    assert added.status_code == 201 and added.json()["data"]["default"] is True, added.text
    assert credit(admin, acc, 20, "order-d").status_code == 201, "a declined order may be tried again"
    assert balance(admin, acc) == 20


def test_a_gateway_that_does_not_answer_in_time_writes_nothing_and_a_retry_charges_once(world, braintree_on):
    peer = braintree_on
    acc, admin = customer_with_card(world)
    peer.stall_sales_s = GATEWAY_TIMEOUT_S * 3
    resp = credit(admin, acc, 15, "order-slow")
    assert resp.status_code == 503, resp.text
    assert resp.json()["data"]["reason"] == "timeout" and "in time" in resp.json()["data"]["message"]
    assert balance(admin, acc) == 0 and payments(admin, acc) == []
    peer.stall_sales_s = 0
    retry = credit(admin, acc, 15, "order-slow")
    assert retry.status_code == 201, retry.text
    sales = peer.sales(acc["id"])
    assert len(sales) == 1, "the sale the gateway made while we waited is found, not made again"
    assert retry.json()["data"]["metadata"]["transaction_id"] == sales[0]["id"]
    assert balance(admin, acc) == 15


def test_an_unreadable_answer_writes_nothing_and_a_retry_charges_once(world, braintree_on):
    peer = braintree_on
    acc, admin = customer_with_card(world)
    peer.garble_sales = True
    try:
        resp = credit(admin, acc, 8, "order-garbled")
    finally:
        peer.garble_sales = False
    assert resp.status_code == 503 and "Unreadable" in resp.json()["data"]["message"], resp.text
    assert balance(admin, acc) == 0 and payments(admin, acc) == []
    assert credit(admin, acc, 8, "order-garbled").status_code == 201
    assert len(peer.sales(acc["id"])) == 1 and balance(admin, acc) == 8


def test_no_card_and_bad_cards_are_clear_errors(world, braintree_on):
    acc = world.master.create_account(world.r["id"], unique("Pay No Card"))
    admin = world.master.admin_of(acc["id"])
    empty = admin.get(f"accounts/{acc['id']}/braintree/customer")
    assert empty.status_code == 200 and empty.json()["data"]["credit_cards"] == [], empty.text
    none = credit(admin, acc, 5)
    assert none.status_code == 402 and none.json()["message"] == "no_payment_token", none.text
    bad = admin.put(
        f"accounts/{acc['id']}/braintree/cards", {"number": "4111111111111112", "expiration_date": "1/2030"}
    )
    assert bad.status_code == 400 and bad.json()["message"] == "braintree api error", bad.text
    assert bad.json()["data"]["errors"][0]["code"] == "81715"
    for body, field in (
        ({"number": "4111-abc", "expiration_date": "12/2030"}, "number"),
        ({"number": GOOD_CARD, "cvv": "12345", "expiration_date": "12/2030"}, "cvv"),
        ({"expiration_date": "12/2030"}, "number"),
        ({"number": GOOD_CARD, "cardholder_name": 5}, "cardholder_name"),
    ):
        resp = admin.put(f"accounts/{acc['id']}/braintree/cards", body)
        assert resp.status_code == 400 and field in resp.json()["data"], resp.text
        assert "4111" not in resp.text or field == "cardholder_name"
    assert admin.get(f"accounts/{acc['id']}/braintree/cards").json()["data"] == []
    assert balance(admin, acc) == 0


def test_cards_and_addresses(world, braintree_on):
    acc, admin = customer_with_card(world)
    base = f"accounts/{acc['id']}/braintree"
    address = admin.put(f"{base}/addresses", {"street_address": "1 Main St", "locality": "Springfield"})
    assert address.status_code == 201, address.text
    aid = address.json()["data"]["id"]
    got = admin.get(f"{base}/addresses/{aid}")
    assert got.status_code == 200 and got.json()["data"]["locality"] == "Springfield", got.text
    cards = admin.get(f"{base}/cards").json()["data"]
    assert len(cards) == 1 and set(cards[0]) >= {"id", "last_four", "card_type", "expiration_month", "expiration_year"}
    assert admin.get(f"{base}/cards/{cards[0]['id']}").json()["data"]["last_four"] == "1111"
    removed = admin.delete(f"{base}/cards/{cards[0]['id']}")
    assert removed.status_code == 200 and removed.json()["data"]["last_four"] == "1111", "the card removed"
    assert admin.get(f"{base}/cards/{cards[0]['id']}").status_code == 404
    assert admin.delete(f"{base}/cards/{cards[0]['id']}").status_code == 404
    assert admin.delete(f"{base}/addresses/{aid}").json()["data"]["id"] == aid
    assert admin.delete(f"{base}/addresses/{aid}").status_code == 404
    assert admin.get(f"{base}/addresses").json()["data"] == []
    assert credit(admin, acc, 5).status_code == 402, "no card left"


def test_refund_gives_back_a_sale_and_debits_the_ledger(world, braintree_on):
    peer = braintree_on
    acc, admin = customer_with_card(world)
    sale = world.r_admin.put(f"accounts/{acc['id']}/transactions/sale", {"amount": 50, "order_id": "inv-9"})
    assert sale.status_code == 201, sale.text
    sale_id = sale.json()["data"]["transaction_id"]
    assert [s["id"] for s in peer.sales(acc["id"])] == [sale_id]
    path = f"accounts/{acc['id']}/transactions/refund"
    assert admin.put(path, {"transaction_id": sale_id, "amount": 10}).status_code == 403, "never the account itself"
    refund = world.r_admin.put(path, {"transaction_id": sale_id, "amount": 10, "order_id": "rf-1"})
    assert refund.status_code == 201, refund.text
    data = refund.json()["data"]
    assert data["type"] == "debit" and data["amount"] == 10 and data["refunded_transaction_id"] == sale_id
    again = world.r_admin.put(path, {"transaction_id": sale_id, "amount": 10, "order_id": "rf-1"})
    assert again.json()["data"]["id"] == data["id"], "the same refund order is written once"
    too_much = world.r_admin.put(path, {"transaction_id": sale_id, "amount": 45})
    assert too_much.status_code == 400 and too_much.json()["message"] == "braintree api error", too_much.text
    unknown = world.r_admin.put(path, {"transaction_id": "nosuchsale", "amount": 1})
    assert unknown.status_code == 404, unknown.text
    assert world.r_admin.put(path, {"amount": 1}).status_code == 400, "a refund names its sale"
    assert balance(admin, acc) == 40
    assert sorted(p["type"] for p in payments(admin, acc)) == ["credit", "debit"]


def test_who_may_see_and_use_an_accounts_payments(world, master, braintree_on):
    """C's payment details: its admins and its ancestors' admins; never its sub-account, its siblings or a user."""
    user = master.create(
        world.c["id"], "users", {"first_name": "U", "last_name": "Ser", "username": "pay-user", "password": "pw-1"}
    )
    assert user["priv_level"] == "user"
    plain = Client(master.base)
    plain.login("pay-user", "pw-1", account_realm=master.get(f"accounts/{world.c['id']}").json()["data"]["realm"])
    tails = ("braintree/customer", "braintree/cards", "braintree/credits", "braintree/transactions", "transactions")
    for client, allowed in (
        (world.c_admin, True),
        (world.r_admin, True),
        (master, True),
        (world.s_admin, False),
        (world.x_admin, False),
        (plain, False),
    ):
        for tail in tails:
            resp = client.get(f"accounts/{world.c['id']}/{tail}")
            assert resp.status_code == (200 if allowed else 403), (client.account_id, tail, resp.text)
        refused = client.put(f"accounts/{world.c['id']}/braintree/credits", {"amount": 5})
        assert (refused.status_code == 403) == (not allowed), (client.account_id, refused.text)
    for client in (world.s_admin, world.x_admin, plain, world.c_admin):
        resp = client.put(f"accounts/{world.c['id']}/transactions/sale", {"amount": 5})
        assert resp.status_code == 403, (client.account_id, resp.text)


async def test_the_charge_seam_writes_a_payments_credit_or_nothing(world, server, master, braintree_on):
    """`charges.charge`, as auto-recharge and the monthly bill call it, from another process on the same database."""
    peer = braintree_on
    acc, _ = customer_with_card(world)
    declining, _ = customer_with_card(world, DECLINING)
    store = await open_store(server[2])
    try:
        written = await charges.charge(store, acc["id"], 70_000, "Auto-recharge", "seam-1")
        assert written.new and written.entry.source == ledgers.PAYMENTS and written.entry.amount == 70_000
        again = await charges.charge(store, acc["id"], 70_000, "Auto-recharge", "seam-1")
        assert not again.new and again.entry.id == written.entry.id
        with pytest.raises(Declined):
            await charges.charge(store, declining["id"], 70_000, "Auto-recharge", "seam-2")
        assert await ledgers.balance_units(store, acc["id"]) == 70_000
        assert await ledgers.balance_units(store, declining["id"]) == 0
        assert len(peer.sales(acc["id"])) == 1

        other, other_admin = customer_with_card(world)  # the same order from the server and from this process at once
        peer.stall_sales_s = GATEWAY_TIMEOUT_S / 2
        here, there = await asyncio.gather(
            charges.charge(store, other["id"], 90_000, "Top-up", "both-1"),
            asyncio.to_thread(credit, other_admin, other, 9, "both-1"),
            return_exceptions=True,
        )
        peer.stall_sales_s = 0
        assert isinstance(here, ledgers.Written) or getattr(here, "code", None) == 409, here
        assert there.status_code in (201, 409), there.text
        assert len(peer.sales(other["id"])) == 1 and await ledgers.balance_units(store, other["id"]) == 90_000

        await asyncio.to_thread(configure, master, "payments", {"default": {"gateway": "local"}})
        with pytest.raises(NoGateway):
            await charges.charge(store, acc["id"], 70_000, "Auto-recharge", "seam-3")
        assert await ledgers.balance_units(store, acc["id"]) == 70_000
    finally:
        await store.dispose()


def test_a_misconfigured_gateway_is_a_clear_503_never_a_crash(world, master, braintree_on):
    acc = world.master.create_account(world.r["id"], unique("Pay Misconfigured"))
    admin = world.master.admin_of(acc["id"])
    good = {
        "merchant_id": MERCHANT,
        "public_key": PUBLIC_KEY,
        "private_key": PRIVATE_KEY,
        "environment": braintree_on.url,
    }
    for braintree, payments_config, reason in (
        ({**good, "private_key": "wrong"}, {"gateway": "braintree"}, "authentication"),
        ({**good, "environment": "ftp://127.0.0.1:1"}, {"gateway": "braintree"}, "configuration"),
        ({**good, "environment": "https://127.0.0.1:8443"}, {"gateway": "braintree"}, "configuration"),
        ({**good, "merchant_id": ""}, {"gateway": "braintree"}, "configuration"),
        ({**good, "timeout_s": "soon"}, {"gateway": "braintree"}, "configuration"),
        (good, {"gateway": "cash-register"}, "configuration"),
    ):
        configure(master, "braintree", {"default": braintree})
        configure(master, "payments", {"default": payments_config})
        resp = admin.get(f"accounts/{acc['id']}/braintree/customer")
        assert resp.status_code == 503 and resp.json()["data"]["reason"] == reason, (braintree, resp.text)
        assert credit(admin, acc, 5).status_code == 503
    assert balance(admin, acc) == 0


async def test_no_card_number_in_the_store_or_the_logs(world, server, peer, braintree_on):
    """After every test above: the gateway got the card numbers, the platform kept none of them anywhere."""
    acc, admin = customer_with_card(world)
    assert credit(admin, acc, 3).status_code == 201
    sent = b"".join(peer.bodies)
    assert GOOD_CARD.encode() in sent and DECLINING.encode() in sent, "the numbers did go to the gateway"
    store = await open_store(server[2])
    try:
        async with store.read() as tx:
            for table in metadata.sorted_tables:
                for row in await tx.conn.execute(select(table)):
                    text = repr(tuple(row))
                    assert GOOD_CARD not in text and DECLINING not in text, table.name
    finally:
        await store.dispose()
    for log in LOGS.values():
        text = log.read_text(errors="replace")
        assert GOOD_CARD not in text and DECLINING not in text, log


def test_a_card_credit_mails_one_receipt_to_the_billing_contact(world, braintree_on, smtp):
    acc, admin = customer_with_card(world)
    billing = address("billing")
    assert world.master.patch(f"accounts/{acc['id']}", {"contact": {"billing": {"email": billing}}}).status_code == 200
    assert credit(admin, acc, 40, "order-receipt").status_code == 201
    (receipt,) = smtp.wait_for(billing)
    sale = braintree_on.sales(acc["id"])[0]
    assert receipt.subject == f"Payment receipt: $40 for {acc['name']}"
    assert sale["id"] in receipt.text and "card ending 1111" in receipt.text
    assert credit(admin, acc, 40, "order-receipt").status_code == 201
    log = world.master.get(f"accounts/{acc['id']}/notifications/smtplog").json()["data"]
    assert [row["template_id"] for row in log] == ["transaction"], "a repeat queues no second receipt (queued first)"

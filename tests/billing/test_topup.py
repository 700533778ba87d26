"""Auto-recharge through a real server, the real Braintree SDK against the Braintree test peer, and a real SMTP sink:
a card is charged once a day while the balance is below the threshold and one `payments` credit written; a declined
card is told once and not tried again that day; a charge the gateway did not answer in time is settled once by the
next check; with no card gateway nothing is credited. The job's clock is `cloudpbx sup tasks run low_balance --now`."""

from __future__ import annotations

import asyncio
import secrets
import subprocess
from decimal import Decimal
from types import SimpleNamespace

import pytest
from sqlalchemy import insert, update

from cloudpbx.ids import GREGORIAN_OFFSET
from cloudpbx.store import open_store
from cloudpbx.store.tables import payment_attempts, topup_attempts
from tests.billing.braintree_peer import DECLINING
from tests.billing.test_payments import GATEWAY_TIMEOUT_S, braintree_on, customer_with_card, peer
from tests.conftest import sup_argv
from tests.helpers import DAY, unique, unused_job_period
from tests.notify.smtp_sink import address

__all__ = ["braintree_on", "peer"]  # fixtures this module uses from the payments tests


@pytest.fixture(scope="module")
def world(master):
    r = master.create_account(master.account_id, unique("Topup Reseller"))
    assert master.put(f"accounts/{r['id']}/reseller").status_code == 200
    return SimpleNamespace(master=master, r=r)


def run_at(server, gregorian: int) -> None:
    ran = subprocess.run(
        sup_argv(server, "tasks", "run", "low_balance", "--now", str(gregorian)), capture_output=True, text=True
    )
    assert ran.returncode == 0 and "done" in ran.stdout, ran.stdout + ran.stderr


def ledger(master, account: dict, kind: str, amount: float) -> None:
    body = {
        "amount": amount,
        "source": {"service": "adjustments", "id": secrets.token_hex(6)},
        "usage": {"type": "adjustment", "quantity": 1, "unit": "each"},
    }
    assert master.put(f"accounts/{account['id']}/ledgers/{kind}", body).status_code == 201


def recharging(world, number: str | None = None) -> tuple[dict, str]:
    """An account with auto-recharge at $10 for $25, $3 of credit and a billing contact (and a card when given)."""
    if number is None:
        account = world.master.create_account(world.r["id"], unique("Topup No Card"))
    else:
        account, _ = customer_with_card(world, number)
    billing = address("billing")
    patch = {"topup": {"threshold": 10, "amount": 25}, "contact": {"billing": {"email": billing}}}
    assert world.master.patch(f"accounts/{account['id']}", patch).status_code == 200
    ledger(world.master, account, "credit", 3)
    return account, billing


def balance(master, account: dict) -> Decimal:
    return Decimal(str(master.get(f"accounts/{account['id']}/ledgers/available").json()["data"]["amount"]))


def payments(master, account: dict) -> list[dict]:
    return master.get(f"accounts/{account['id']}/ledgers/payments").json()["data"]


def mails(smtp, to: str, moment: int, subject: str) -> list:
    return [m for m in smtp.to(to) if m.date == moment - GREGORIAN_OFFSET and subject in m.subject]


def test_a_card_is_charged_once_a_day_while_below_the_threshold(world, server, smtp, braintree_on):
    account, billing = recharging(world, "4111111111111111")
    customer = account["id"]
    now = unused_job_period()
    run_at(server, now)
    assert [Decimal(s["amount"]) for s in braintree_on.sales(customer)] == [Decimal(25)]
    assert balance(world.master, account) == 28
    (credit,) = payments(world.master, account)
    assert credit["amount"] == 25 and credit["description"] == "Usage top-up"
    (mail,) = smtp.wait_for(billing)
    assert "was topped up with $25" in mail.subject and "now $28" in mail.text

    ledger(world.master, account, "debit", 20)
    run_at(server, now + 3600)
    assert len(braintree_on.sales(customer)) == 1, "below again within the day: not charged again"
    assert balance(world.master, account) == 8
    run_at(server, now + DAY)
    assert len(braintree_on.sales(customer)) == 2, "a day later, still below: charged once more"
    assert balance(world.master, account) == 33 and len(payments(world.master, account)) == 2
    run_at(server, now + DAY + 900)
    assert len(braintree_on.sales(customer)) == 2, "above the threshold: nothing"


def test_a_declined_card_is_told_once_and_not_tried_again_that_day(world, server, smtp, braintree_on):
    account, billing = recharging(world, DECLINING)
    now = unused_job_period()
    run_at(server, now)
    assert payments(world.master, account) == [] and balance(world.master, account) == 3
    (mail,) = smtp.wait_for(billing)
    assert "top-up of" in mail.subject and "Do Not Honor" in mail.text
    run_at(server, now + 900)
    run_at(server, now + 7200)
    assert len(braintree_on.sales(account["id"])) == 1, "never retried in a loop"
    run_at(server, now + DAY)
    assert len(braintree_on.sales(account["id"])) == 2, "tried again the next day"
    assert len(smtp.wait_for(billing, 2)) == 2 and balance(world.master, account) == 3


def test_a_charge_the_gateway_did_not_answer_is_settled_once(world, server, smtp, braintree_on):
    account, billing = recharging(world, "4111111111111111")
    now = unused_job_period()
    braintree_on.stall_sales_s = GATEWAY_TIMEOUT_S * 3
    run_at(server, now)
    braintree_on.stall_sales_s = 0
    assert balance(world.master, account) == 3, "the outcome is unknown: nothing credited yet"
    (told,) = smtp.wait_for(billing)
    assert "did not answer" in told.text
    run_at(server, now + 900)
    assert len(braintree_on.sales(account["id"])) == 1, "the gateway's sale was found, not made again"
    assert balance(world.master, account) == 28 and len(payments(world.master, account)) == 1
    assert len(smtp.wait_for(billing, 2)) == 2
    run_at(server, now + 1800)
    assert balance(world.master, account) == 28


def test_without_a_card_gateway_nothing_is_credited(world, server, smtp):
    account, billing = recharging(world)
    now = unused_job_period()
    run_at(server, now)
    assert payments(world.master, account) == [] and balance(world.master, account) == 3
    (mail,) = smtp.wait_for(billing)
    assert "takes no cards" in mail.text
    run_at(server, now + 900)
    assert len(mails(smtp, billing, now + 900, "top-up")) == 0


def test_a_charge_whose_process_died_is_settled_once_its_claim_expires(world, server, smtp, braintree_on):
    """A process claimed today's top-up and the card charge, then died before the gateway answered (so the gateway
    never charged): while the dead charge's claim holds, the next checks wait; once it expires one charges."""
    account, billing = recharging(world, "4111111111111111")
    now = unused_job_period()
    key = f"topup:{account['id']}:{now - 600}"
    asyncio.run(died_mid_charge(server[2], account["id"], key, now - 600, claimed_until=now + 3600))
    run_at(server, now)
    assert braintree_on.sales(account["id"]) == [] and payments(world.master, account) == []
    assert smtp.to(billing) == [], "nothing failed: the charge is only in doubt"
    asyncio.run(expire_claim(server[2], account["id"], key))
    run_at(server, now + 900)
    assert [s["order_id"] for s in braintree_on.sales(account["id"])] == [key], "charged once, under the old key"
    assert balance(world.master, account) == 28
    run_at(server, now + 1800)
    assert len(braintree_on.sales(account["id"])) == 1 and len(payments(world.master, account)) == 1


async def died_mid_charge(url: str, account_id: str, key: str, at: int, claimed_until: int) -> None:
    store = await open_store(url)
    try:
        async with store.write() as tx:
            await tx.conn.execute(
                insert(topup_attempts).values(
                    account_id=account_id, last_attempt=at, pending_key=key, pending_amount=250_000
                )
            )
            await tx.conn.execute(
                insert(payment_attempts).values(
                    account_id=account_id,
                    idem_key=f"charge:{key}",
                    amount=250_000,
                    state="claimed",
                    claimed_until=claimed_until,
                )
            )
    finally:
        await store.dispose()


async def expire_claim(url: str, account_id: str, key: str) -> None:
    store = await open_store(url)
    try:
        async with store.write() as tx:
            c = payment_attempts.c
            await tx.conn.execute(
                update(payment_attempts)
                .where(c.account_id == account_id, c.idem_key == f"charge:{key}")
                .values(claimed_until=0)
            )
    finally:
        await store.dispose()

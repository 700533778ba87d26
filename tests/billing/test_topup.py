"""Auto-recharge through a real server, the real Braintree SDK against the Braintree test peer, and a real SMTP sink:
a card is charged once a day while the balance is below the threshold and one `payments` credit written; a declined
card is told once and not tried again that day; a charge the gateway did not answer in time is settled once by the
next check; with no card gateway nothing is credited. The job's clock is `cloudpbx sup tasks run low_balance --now`."""

from __future__ import annotations

import secrets
import subprocess
import time
from decimal import Decimal
from types import SimpleNamespace

import pytest

from cloudpbx.ids import GREGORIAN_OFFSET
from tests.billing.braintree_peer import DECLINING
from tests.billing.test_payments import GATEWAY_TIMEOUT_S, braintree_on, customer_with_card, peer
from tests.conftest import sup_argv
from tests.helpers import unique
from tests.notify.smtp_sink import address

__all__ = ["braintree_on", "peer"]  # fixtures this module uses from the payments tests
DAY = 86400


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


def period_start() -> int:
    """A job period far from today's, so each test's runs are periods nobody ran."""
    start = time.time() + secrets.randbelow(300) * DAY + 40 * DAY
    return int(start - start % 900) + GREGORIAN_OFFSET


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
    now = period_start()
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
    now = period_start()
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
    now = period_start()
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
    now = period_start()
    run_at(server, now)
    assert payments(world.master, account) == [] and balance(world.master, account) == 3
    (mail,) = smtp.wait_for(billing)
    assert "takes no cards" in mail.text
    run_at(server, now + 900)
    assert len(mails(smtp, billing, now + 900, "top-up")) == 0

"""The monthly bill as the scheduler runs it (`services_bill`, here through `cloudpbx sup tasks run --now`, a real
process on the suite's database): every account's bill for the month, and a card-mode account's card charged the
bill once, through the real Braintree SDK against the test peer; the bill run again by hand charges nothing more.
A declined card leaves the bill owed and its billing contact is told by email (a real SMTP sink)."""

from __future__ import annotations

import subprocess
from decimal import Decimal
from types import SimpleNamespace

import pytest

from cloudpbx.billing import ledgers
from tests.billing.braintree_peer import DECLINING
from tests.billing.test_payments import braintree_on, customer_with_card, peer
from tests.billing.test_service_plans import assign, make_plan
from tests.conftest import sup_argv
from tests.helpers import unique
from tests.notify.smtp_sink import address

__all__ = ["braintree_on", "peer"]  # fixtures this module uses from the payments tests
MONTH = "203303"
DECLINED_MONTH = "203304"


@pytest.fixture(scope="module")
def world(master):
    r = master.create_account(master.account_id, unique("Monthly Reseller"))
    assert master.put(f"accounts/{r['id']}/reseller").status_code == 200
    return SimpleNamespace(master=master, r=r, r_admin=master.admin_of(r["id"]))


def sup(server, *args: str) -> str:
    ran = subprocess.run(sup_argv(server, *args), capture_output=True, text=True)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    return ran.stdout


def test_the_monthly_job_bills_every_account_and_charges_a_card_once(world, server, braintree_on):
    master = world.master
    carded, _ = customer_with_card(world)
    credited = master.create_account(world.r["id"], unique("Monthly Credit"))
    plan = make_plan(world.r_admin, world.r, {"users": {"admin": {"rate": 12.5}}})
    for account, mode in ((carded, "card"), (credited, "credit")):
        master.admin_of(account["id"], username="billed-admin")
        assert assign(world.r_admin, account, plan["id"]).status_code == 200
        assert master.post(f"accounts/{account['id']}/services", {"billing_mode": mode}).status_code == 200
    start = ledgers.month_bounds(MONTH)[0]
    assert "done" in sup(server, "tasks", "run", "services_bill", "--now", str(start + 60))
    admins = 2  # the card customer's own admin and the billed one
    bill = Decimal("12.5") * admins
    assert [Decimal(s["amount"]) for s in braintree_on.sales(carded["id"])] == [bill]
    for account, balance in ((carded, 0), (credited, -12.5)):
        services = master.get(f"accounts/{account['id']}/ledgers/services").json()["data"]
        assert [row["amount"] for row in services] == [-float(Decimal("12.5") * (admins if account is carded else 1))]
        available = master.get(f"accounts/{account['id']}/ledgers/available").json()["data"]["amount"]
        assert available == balance, (account["name"], available)
    out = sup(server, "kazoo_services", "bill", carded["id"], f"{MONTH[:4]}-{MONTH[4:]}")
    assert "0 entries" in out
    assert len(braintree_on.sales(carded["id"])) == 1, "the bill run again by hand finds the charge made"


def test_a_declined_card_leaves_the_bill_owed_and_tells_the_billing_contact(world, server, smtp, braintree_on):
    master = world.master
    declining, _ = customer_with_card(world, DECLINING)
    billing = address("billing")
    assert master.patch(f"accounts/{declining['id']}", {"contact": {"billing": {"email": billing}}}).status_code == 200
    plan = make_plan(world.r_admin, world.r, {"users": {"admin": {"rate": 7.5}}})
    assert assign(world.r_admin, declining, plan["id"]).status_code == 200
    assert master.post(f"accounts/{declining['id']}/services", {"billing_mode": "card"}).status_code == 200
    start = ledgers.month_bounds(DECLINED_MONTH)[0]
    assert "done" in sup(server, "tasks", "run", "services_bill", "--now", str(start + 60))
    assert [Decimal(s["amount"]) for s in braintree_on.sales(declining["id"])] == [Decimal("7.5")]
    services = master.get(f"accounts/{declining['id']}/ledgers/services").json()["data"]
    assert [row["amount"] for row in services] == [-7.5]
    assert master.get(f"accounts/{declining['id']}/ledgers/payments").json()["data"] == []
    assert master.get(f"accounts/{declining['id']}/ledgers/available").json()["data"]["amount"] == -7.5
    (mail,) = smtp.wait_for(billing)
    assert mail.subject == f"A payment of $7.5 for {declining['name']} failed"
    assert "services 2033-04" in mail.text and "Do Not Honor" in mail.text

"""Service plans through a real server: a reseller tree's invoice with cascade and tiers (exact totals), `_all` with
exceptions, discounts, numbers by classifier and their features, the 402 handshake as Monster UI sends it, the
services audit, quotes, the Service Plan page as CSV, the monthly bill with prorations (idempotent, from
`cloudpbx sup kazoo_services bill`), the plan's rate deck, and who may do what (isolation matrix)."""

from __future__ import annotations

import asyncio
import csv
import io
import random
import subprocess
import sys
from decimal import ROUND_HALF_UP, Decimal
from types import SimpleNamespace

import pytest

from cloudpbx.accounts.documents import Documents
from cloudpbx.accounts.kinds import DEVICE
from cloudpbx.billing import ledgers, monthly
from cloudpbx.billing.plans import ratedeck_of
from cloudpbx.store import gregorian_now, open_store
from tests.conftest import sup_argv
from tests.helpers import unique
from tests.notify.smtp_sink import address


@pytest.fixture(scope="module")
def world(master):
    """master → reseller R → customer C → sub S; R → sibling X; master → reseller R2; master → direct D."""
    r = master.create_account(master.account_id, unique("Plans Reseller"))
    assert master.put(f"accounts/{r['id']}/reseller").status_code == 200
    r2 = master.create_account(master.account_id, unique("Plans Reseller Two"))
    assert master.put(f"accounts/{r2['id']}/reseller").status_code == 200
    c = master.create_account(r["id"], unique("Plans Customer"))
    s = master.create_account(c["id"], unique("Plans Sub"))
    x = master.create_account(r["id"], unique("Plans Sibling"))
    d = master.create_account(master.account_id, unique("Plans Direct"))
    admins = {f"{n}_admin": master.admin_of(a["id"]) for n, a in (("r", r), ("r2", r2), ("c", c), ("s", s), ("x", x))}
    return SimpleNamespace(master=master, r=r, r2=r2, c=c, s=s, x=x, d=d, **admins)


def make_plan(client, account: dict, plan: dict, **fields) -> dict:
    resp = client.put(f"accounts/{account['id']}/service_plans", {"name": unique("Plan"), "plan": plan, **fields})
    assert resp.status_code == 201, resp.text
    return resp.json()["data"]


def assign(client, account: dict, plan_id: str, overrides: dict | None = None):
    body = {"overrides": overrides} if overrides else {}
    return client.post(f"accounts/{account['id']}/service_plans/{plan_id}", body)


ACCEPT = {"accept_charges": "true"}


def user(client, account: dict, priv_level: str = "user"):
    data = {"first_name": "U", "last_name": unique("ser"), "priv_level": priv_level}
    return client.put(f"accounts/{account['id']}/users", data, params=ACCEPT)


def summary(client, account: dict) -> dict:
    resp = client.get(f"accounts/{account['id']}/services/summary")
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]


def items(found: dict) -> dict:
    return {(i["category"], i["item"]): (i["quantity"], i["total"]) for i in found["invoices"][0]["items"]}


def did() -> str:
    return f"+1415{random.randint(2000000, 9999999)}"


def test_reseller_tree_invoice_with_cascade_and_tiers(world):
    master = world.master
    tree = make_plan(
        master,
        {"id": master.account_id},
        {
            "devices": {"_all": {"cascade": True, "rates": {"3": 2, "100": 1.5}, "as": "devices"}},
            "users": {"admin": {"rate": 1}},
        },
    )
    assert assign(master, world.r, tree["id"]).status_code == 200
    customer = make_plan(
        world.r_admin,
        world.r,
        {
            "users": {"user": {"rates": {"2": 10, "5": 8}, "rate": 6}, "admin": {"rate": 4}},
            "devices": {"_all": {"rate": 3}},
        },
    )
    assert assign(world.r_admin, world.c, customer["id"]).status_code == 200
    for _ in range(3):
        assert user(master, world.c).status_code == 201
    for account, n in ((world.c, 2), (world.s, 1), (world.x, 1), (world.r, 1)):
        for _ in range(n):
            made = master.put(f"accounts/{account['id']}/devices", {"name": unique("Phone")}, params=ACCEPT)
            assert made.status_code == 201, made.text

    mine = summary(world.c_admin, world.c)
    assert items(mine) == {("users", "user"): (3, 24), ("users", "admin"): (1, 4), ("devices", "_all"): (2, 6)}
    assert mine["invoices"][0]["summary"]["recurring"] == 34
    assert mine["quantities"]["account"]["users"] == {"user": 3, "admin": 1}
    reseller = summary(world.r_admin, world.r)
    # R's own plan counts devices over its whole tree: R 1, C 2, S 1, X 1 = 5 at the 100-tier rate of 1.5
    assert items(reseller) == {("devices", "devices"): (5, 7.5), ("users", "admin"): (1, 1)}
    assert reseller["quantities"]["cascade"]["devices"] == {"sip_device": 5}
    assert reseller["quantities"]["cascade"]["users"] == {"admin": 4, "user": 3}
    current = world.c_admin.get(f"accounts/{world.c['id']}/service_plans/current").json()["data"]
    assert current["users"]["user"]["rates"] == {"2": 10, "5": 8}


def test_all_with_exceptions_discounts_numbers_and_features(world, master):
    acc = master.create_account(world.r["id"], unique("Plans Numbers"))
    plan = make_plan(
        world.r_admin,
        world.r,
        {
            "phone_numbers": {
                "_all": {"rate": 1, "exceptions": ["tollfree_us"], "as": "numbers"},
                "tollfree_us": {"rate": 5},
            },
            "number_services": {"e911": {"rate": 2}},
            "users": {
                "user": {"rate": 10, "discounts": {"single": {"rate": 3}, "cumulative": {"rate": 1, "maximum": 2}}}
            },
        },
    )
    assert assign(world.r_admin, acc, plan["id"]).status_code == 200
    numbers = [did(), did(), f"+1800{random.randint(2000000, 9999999)}"]
    for number in numbers:
        assert master.put(f"accounts/{acc['id']}/phone_numbers/{number}", params=ACCEPT).status_code == 201
    e911 = {"street_address": "140 Main St", "locality": "San Francisco", "region": "CA", "postal_code": "94105"}
    asked = master.patch(f"accounts/{acc['id']}/phone_numbers/{numbers[0]}", {"e911": e911})
    assert asked.status_code == 402, asked.text
    assert asked.json()["data"]["number_services"]["e911"]["recurring_charges"] == 2
    changed = master.patch(f"accounts/{acc['id']}/phone_numbers/{numbers[0]}", {"e911": e911}, params=ACCEPT)
    assert changed.status_code == 200, changed.text
    again = master.patch(f"accounts/{acc['id']}/phone_numbers/{numbers[0]}", {"e911": {**e911, "locality": "Oakland"}})
    assert again.status_code == 200, "changing a feature already on adds nothing"
    for _ in range(3):
        assert user(master, acc).status_code == 201
    found = summary(master, acc)
    assert items(found) == {
        ("phone_numbers", "numbers"): (2, 2),
        ("phone_numbers", "tollfree_us"): (1, 5),
        ("number_services", "e911"): (1, 2),
        ("users", "user"): (3, 30 - 3 - 2),
    }
    assert found["invoices"][0]["summary"]["recurring"] == 34
    assert found["quantities"]["account"]["phone_numbers"] == {"did_us": 2, "tollfree_us": 1}


def test_402_handshake_as_monster_ui_sends_it(world, master):
    acc = master.create_account(world.r["id"], unique("Plans Handshake"))
    plan = make_plan(world.r_admin, world.r, {"devices": {"sip_device": {"rate": 2.5, "activation_charge": 5}}})
    assert assign(world.r_admin, acc, plan["id"]).status_code == 200
    admin = master.admin_of(acc["id"])
    device = {
        "name": "Desk",
        "device_type": "sip_device",
        "ui_metadata": {"version": "4.3", "ui": "monster-ui", "origin": "voip"},
    }
    first = admin.put(f"accounts/{acc['id']}/devices", envelope={"data": device})
    assert first.status_code == 402, first.text
    body = first.json()
    assert (body["status"], body["error"], body["message"]) == ("error", "402", "accept charges")
    assert body["data"] == {
        "devices": {
            "sip_device": {
                "category": "devices",
                "item": "sip_device",
                "name": "sip_device",
                "quantity": 1,
                "rate": 2.5,
                "single_discount": False,
                "single_discount_rate": 0,
                "cumulative_discount": 0,
                "cumulative_discount_rate": 0,
                "activation_charges": 5,
                "recurring_charges": 2.5,
            }
        },
        "activation_charges": 5,
    }
    assert admin.get(f"accounts/{acc['id']}/devices").json()["data"] == [], "nothing is stored before acceptance"
    accepted = admin.put(f"accounts/{acc['id']}/devices", envelope={"data": device, "accept_charges": True})
    assert accepted.status_code == 201, accepted.text
    in_data = admin.put(f"accounts/{acc['id']}/devices", {**device, "name": "Two", "accept_charges": True})
    assert in_data.status_code == 201, in_data.text
    free = admin.put(f"accounts/{acc['id']}/vmboxes", {"name": "Box", "mailbox": "1234"})
    assert free.status_code == 201, "an item no plan bills needs no acceptance"
    other_type = admin.put(f"accounts/{acc['id']}/devices", {"name": "Cell", "device_type": "cellphone"})
    assert other_type.status_code == 201, other_type.text
    moved = admin.patch(
        f"accounts/{acc['id']}/devices/{other_type.json()['data']['id']}", {"device_type": "sip_device"}
    )
    assert moved.status_code == 402, "changing a device into a billed type adds billable quantity"
    assert summary(admin, acc)["recurring"] == 5
    audit = admin.get(f"accounts/{acc['id']}/services/audit").json()["data"]
    added = [a for a in audit if a["changes"].get("devices.sip_device", {}).get("after") in (1, 2)]
    assert sorted(a["activation_charges"] for a in added) == [5, 5]
    assert [a["reason"] for a in audit][-1] == "plan_added"


def test_quote_csv_and_billing_mode(world, master):
    plan = make_plan(world.r_admin, world.r, {"users": {"admin": {"rate": 7, "name": "Administrators"}}})
    quote = world.x_admin.post(f"accounts/{world.x['id']}/services/quote", {"plans": [plan["id"]]})
    assert quote.status_code == 200, quote.text
    assert quote.json()["data"]["invoices"][0]["summary"]["recurring"] == 7
    assert summary(world.x_admin, world.x)["recurring"] == 0, "a quote assigns nothing"
    unknown = world.x_admin.post(f"accounts/{world.x['id']}/services/quote", {"plans": ["0" * 32]})
    assert unknown.status_code == 404
    assert assign(world.r_admin, world.x, plan["id"]).status_code == 200
    page = world.x_admin.get(f"accounts/{world.x['id']}/services/summary", headers={"Accept": "text/csv"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/csv"), page.text
    rows = list(csv.DictReader(io.StringIO(page.text)))
    assert [(r["category"], r["item"], r["name"], r["quantity"], r["total"]) for r in rows] == [
        ("users", "admin", "Administrators", "1", "7")
    ]
    bad = world.x_admin.post(f"accounts/{world.x['id']}/services", {"billing_mode": "barter"})
    assert bad.status_code == 400 and "billing_mode" in bad.json()["data"]
    mode = world.x_admin.post(f"accounts/{world.x['id']}/services", {"billing_mode": "credit"})
    assert mode.status_code == 200 and mode.json()["data"]["billing_mode"] == "credit"
    cheaper = world.x_admin.post(f"accounts/{world.x['id']}/services", {"overrides": {"users": {"admin": {"rate": 0}}}})
    assert cheaper.status_code == 403, "an account never sets its own prices"


def expected_proration(monthly: Decimal, created: int, span: tuple[int, int]) -> Decimal:
    length = span[1] - span[0] + 1
    share = monthly * 10000 * (span[1] + 1 - created) / length
    return share.quantize(Decimal(1), rounding=ROUND_HALF_UP) / 10000


def test_monthly_bill_with_prorations_is_written_once(world, master, server):
    acc = master.create_account(world.r["id"], unique("Plans Bill"))
    plan = make_plan(
        world.r_admin,
        world.r,
        {
            "users": {
                "user": {"rate": 12, "activation_charge": 1},
                "admin": {"rate": 3, "prorate": {"additions": False}},
            }
        },
        ratedeck={"id": "plans-retail"},
    )
    admin = master.admin_of(acc["id"])  # an admin: 3 a month, not prorated
    assert assign(world.r_admin, acc, plan["id"]).status_code == 200
    for _ in range(2):
        assert user(admin, acc).status_code == 201
    this_month = ledgers.month_of(gregorian_now())
    year, mon = int(this_month[:4]), int(this_month[4:])
    following = f"{year + 1}-01" if mon == 12 else f"{year}-{mon + 1:02d}"
    span = ledgers.month_bounds(this_month)
    audit = admin.get(f"accounts/{acc['id']}/services/audit").json()["data"]
    expected = sum(
        (expected_proration(Decimal(str(a["prorated_monthly"])), a["created"], span) for a in audit), Decimal(0)
    )
    assert sum(Decimal(str(a["prorated_monthly"])) for a in audit) == 24, "only the users' rate prorates"

    first = subprocess.run(
        sup_argv(server, "kazoo_services", "bill", acc["id"], following), capture_output=True, text=True, timeout=60
    )
    assert first.returncode == 0, first.stderr
    entries = {
        source: master.get(f"accounts/{acc['id']}/ledgers/{source}").json()["data"]
        for source in ("services", "prorations")
    }
    services = sorted(e["amount"] for e in entries["services"])
    assert services == [-27, -1, -1], "the month ahead (2 users, 1 admin) and one activation charge per user added"
    assert Decimal(str(-sum(Decimal(str(e["amount"])) for e in entries["prorations"]))) == expected
    recurring = next(e for e in entries["services"] if e["amount"] == -27)
    assert recurring["period"]["start"] == ledgers.month_bounds(following.replace("-", ""))[0]
    again = subprocess.run(
        sup_argv(server, "kazoo_services", "bill", acc["id"], following), capture_output=True, text=True, timeout=60
    )
    assert again.returncode == 0 and again.stdout.strip().endswith("0 entries, 0 charged (self_manage)"), again.stdout
    total = -(27 + 2) - expected
    assert Decimal(str(master.get(f"accounts/{acc['id']}/ledgers/available").json()["data"]["amount"])) == total
    bad = subprocess.run(
        sup_argv(server, "kazoo_services", "bill", acc["id"], "2026-13"), capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 1 and "YYYY-MM" in bad.stderr

    async def deck() -> str | None:
        store = await open_store(server[2])
        try:
            return await ratedeck_of(store, acc["id"])
        finally:
            await store.dispose()

    assert asyncio.run(deck()) == "plans-retail"
    assert master.get(f"accounts/{acc['id']}/services").json()["data"]["ratedeck"] == "plans-retail"
    picked = master.get(f"accounts/{acc['id']}/ratedeck").json()["data"]
    assert picked == {"ratedeck_id": "plans-retail"}, "the deck the account's per-minute calls are rated by"


def test_isolation_matrix(world, master):
    plan = make_plan(world.r_admin, world.r, {"users": {"user": {"rate": 1}}})
    url = f"accounts/{world.r['id']}/service_plans"
    for client, status in (
        (world.r_admin, 200),
        (master, 200),
        (world.c_admin, 403),
        (world.r2_admin, 403),
        (world.x_admin, 403),
    ):
        assert client.get(f"{url}/{plan['id']}").status_code == status
    assert world.c_admin.put(f"accounts/{world.c['id']}/service_plans", {"name": "Mine"}).status_code == 403
    assert world.r2_admin.put(url, {"name": "Theirs"}).status_code == 403
    for client in (world.c_admin, world.s_admin):
        account = world.c if client is world.c_admin else world.s
        listed = client.get(f"accounts/{account['id']}/service_plans/available").json()["data"]
        assert plan["id"] in {p["id"] for p in listed}, "a reseller's descendants see its plans"
        assert assign(client, account, plan["id"]).status_code == 403, "an account never picks its own plan"
    assert assign(world.c_admin, world.s, plan["id"]).status_code == 403, "a customer above is not the vendor"
    assert assign(world.r2_admin, world.s, plan["id"]).status_code == 403
    theirs = make_plan(world.r2_admin, world.r2, {"users": {"user": {"rate": 1}}})
    assert assign(world.r_admin, world.s, theirs["id"]).status_code == 404, "another reseller's plan is not offered"
    assert assign(world.r_admin, world.s, plan["id"]).status_code == 200
    assert world.s_admin.get(f"accounts/{world.s['id']}/services").status_code == 200
    assert world.x_admin.get(f"accounts/{world.s['id']}/services").status_code == 403
    assert world.r2_admin.get(f"accounts/{world.s['id']}/services/summary").status_code == 403
    assert world.s_admin.delete(f"accounts/{world.s['id']}/service_plans/{plan['id']}").status_code == 403
    assert world.r_admin.delete(f"accounts/{world.s['id']}/service_plans/{plan['id']}").status_code == 200
    assert world.r_admin.delete(f"accounts/{world.s['id']}/service_plans/{plan['id']}").status_code == 404
    bad = world.r_admin.put(url, {"name": "Bad", "plan": {"users": {"user": {"rate": 0.00001, "rates": {"x": 1}}}}})
    assert bad.status_code == 400 and "plan.users.user.rates" in bad.text, bad.text
    finer = world.r_admin.put(url, {"name": "Finer", "plan": {"users": {"user": {"rate": 0.00001}}}})
    assert finer.status_code == 400 and "plan.users.user.rate" in finer.json()["data"], finer.text
    assert world.r_admin.get(url).json()["data"], "the reseller lists its plans"


def test_trunks_are_billable_quantity(world, master):
    acc = master.create_account(world.r["id"], unique("Plans Trunks"))
    plan = make_plan(world.r_admin, world.r, {"limits": {"twoway_trunks": {"rate": 20, "minimum": 1}}})
    assert assign(world.r_admin, acc, plan["id"]).status_code == 200
    url = f"accounts/{acc['id']}/limits"
    refused = world.r_admin.post(url, {"twoway_trunks": 3})
    assert refused.status_code == 402, refused.text
    assert refused.json()["data"]["limits"]["twoway_trunks"]["quantity"] == 3
    assert refused.json()["data"]["limits"]["twoway_trunks"]["recurring_charges"] == 40, (
        "the minimum was billed already"
    )
    assert world.r_admin.get(url).json()["data"]["twoway_trunks"] == 0, "nothing changed before acceptance"
    assert world.r_admin.post(url, {"twoway_trunks": 3}, params=ACCEPT).status_code == 200
    assert items(summary(world.r_admin, acc)) == {("limits", "twoway_trunks"): (3, 60)}
    assert world.r_admin.post(url, {"twoway_trunks": 1}).status_code == 200, "fewer trunks cost nothing more"


def test_overrides_are_checked_like_plans(world, master):
    acc = master.create_account(world.r["id"], unique("Plans Overrides"))
    plan = make_plan(world.r_admin, world.r, {"users": {"user": {"rate": 2}}})
    for overrides, where in (
        ({"users": {"user": {"rate": "cheap"}}}, "overrides.users.user.rate"),
        ({"users": {"user": {"rate": 0.00001}}}, "overrides.users.user.rate"),
        ({"users": 5}, "overrides.users"),
    ):
        refused = assign(world.r_admin, acc, plan["id"], overrides)
        assert refused.status_code == 400 and where in refused.json()["data"], refused.text
    assert master.get(f"accounts/{acc['id']}/services").json()["data"]["plans"] == {}, "nothing assigned"
    assert assign(world.r_admin, acc, plan["id"], {"users": {"user": {"rate": 1.5}}}).status_code == 200
    wide = world.r_admin.post(f"accounts/{acc['id']}/services", {"overrides": {"devices": {"_all": {"step": 0}}}})
    assert wide.status_code == 400 and "overrides.devices._all.step" in wide.json()["data"], wide.text
    assert user(master, acc).status_code == 201
    assert summary(master, acc)["recurring"] == 1.5


def test_processes_sharing_the_database_record_a_change_once(world, master, server):
    acc = master.create_account(world.r["id"], unique("Plans Shared"))
    plan = make_plan(world.r_admin, world.r, {"devices": {"sip_device": {"rate": 1, "activation_charge": 2}}})
    assert assign(world.r_admin, acc, plan["id"]).status_code == 200

    async def unrecorded_device() -> None:  # a change the server has not settled: as if made by another node
        store = await open_store(server[2])
        try:
            await Documents(store).create(DEVICE, acc["id"], {"name": "Elsewhere"})
        finally:
            await store.dispose()

    asyncio.run(unrecorded_device())
    argv = [sys.executable, "-m", "tests.billing.recorder", server[2], acc["id"], "4"]
    procs = [subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    assert [proc.communicate(timeout=60)[0].strip() for proc in procs] == ["done", "done"]
    audit = master.get(f"accounts/{acc['id']}/services/audit").json()["data"]
    recorded = [a for a in audit if a["reason"] == "quantities"]
    assert [(a["changes"], a["activation_charges"], a["who"]) for a in recorded] == [
        ({"devices.sip_device": {"before": 0, "after": 1}}, 2, "recorder")
    ], "eight recorders in two processes wrote the change once"


def test_card_billing_mode_charges_the_month_once_through_the_payment_seam(world, master, server):
    acc = master.create_account(world.r["id"], unique("Plans Card"))
    plan = make_plan(world.r_admin, world.r, {"users": {"admin": {"rate": 9.99}}})
    master.admin_of(acc["id"])
    assert assign(world.r_admin, acc, plan["id"]).status_code == 200
    assert master.post(f"accounts/{acc['id']}/services", {"billing_mode": "card"}).status_code == 200
    paid: list[tuple[str, int, str, str]] = []

    async def bill(month: str) -> monthly.Bill:
        store = await open_store(server[2])

        async def pay(account_id: str, units: int, reason: str, key: str) -> None:  # a gateway keyed as charges is
            paid.append((account_id, units, reason, key))
            change = ledgers.Change(
                ledgers.PAYMENTS, key, "credit", units, reason, ("card", 1, "charge"), key=f"paid:{key}"
            )
            await ledgers.write(store, account_id, change)

        try:
            return await monthly.bill_month(store, acc["id"], month, pay)
        finally:
            await store.dispose()

    first = asyncio.run(bill("2031-05"))
    assert (first.mode, first.total, first.due, first.paid_by_card) == ("card", 99_900, 99_900, True)
    assert paid == [(acc["id"], 99_900, "services 2031-05", "services:203105")]
    again = asyncio.run(bill("2031-05"))
    assert (again.total, again.due) == (0, 99_900), "a rerun writes nothing, and asks the same keyed charge"
    assert paid[1] == paid[0], "so a bill whose payment a crash interrupted is paid by the rerun, and only once"
    assert master.get(f"accounts/{acc['id']}/ledgers/available").json()["data"]["amount"] == 0


def test_mailboxes_conferences_branding_and_apps_are_counted(world, master):
    acc = master.create_account(world.r["id"], unique("Plans Counted"))
    admin = master.admin_of(acc["id"])
    base = f"accounts/{acc['id']}"
    assert admin.put(f"{base}/vmboxes", {"name": "Main", "mailbox": "100"}).status_code == 201
    assert admin.put(f"{base}/vmboxes", {"name": "Sales", "mailbox": "101"}).status_code == 201
    assert admin.put(f"{base}/faxboxes", {"name": "Fax"}).status_code == 201
    assert admin.put(f"{base}/conferences", {"name": "Bridge"}).status_code == 201
    assert (
        admin.put(f"{base}/whitelabel", {"domain": f"{unique('brand').replace(' ', '')}.example.com"}).status_code
        == 201
    )
    catalog = {a["name"]: a["id"] for a in admin.get(f"{base}/apps_store").json()["data"]}
    assert admin.put(f"{base}/apps_store/{catalog['accounts']}", {"allowed_users": "admins"}).status_code == 201
    quantities = admin.get(f"{base}/services").json()["data"]["quantities"]["account"]
    assert quantities["voicemails"] == {"mailbox": 2}
    assert quantities["faxes"] == {"mailbox": 1}
    assert quantities["conferences"] == {"conference": 1}
    assert quantities["branding"] == {"whitelabel": 1}
    assert quantities["account_apps"]["accounts"] == 1
    assert quantities["users"] == {"admin": 1}


def test_removals_are_refunded_prorated_when_the_item_says_so(world, master, server):
    acc = master.create_account(world.r["id"], unique("Plans Refund"))
    plan = make_plan(world.r_admin, world.r, {"users": {"user": {"rate": 30, "prorate": {"removals": True}}}})
    assert assign(world.r_admin, acc, plan["id"]).status_code == 200
    made = [user(master, acc).json()["data"]["id"] for _ in range(2)]
    assert master.delete(f"accounts/{acc['id']}/users/{made[0]}").status_code == 200
    audit = master.get(f"accounts/{acc['id']}/services/audit").json()["data"]
    removal = next(a for a in audit if a["changes"] == {"users.user": {"before": 2, "after": 1}})
    assert (removal["refunded_monthly"], removal["prorated_monthly"]) == (30, 0)
    this_month = ledgers.month_of(gregorian_now())
    year, mon = int(this_month[:4]), int(this_month[4:])
    following = f"{year + 1}-01" if mon == 12 else f"{year}-{mon + 1:02d}"
    billed = subprocess.run(
        sup_argv(server, "kazoo_services", "bill", acc["id"], following), capture_output=True, text=True, timeout=60
    )
    assert billed.returncode == 0, billed.stderr
    span = ledgers.month_bounds(this_month)
    entries = master.get(f"accounts/{acc['id']}/ledgers/prorations").json()["data"]
    credits = [Decimal(str(e["amount"])) for e in entries if e["amount"] > 0]
    assert credits == [expected_proration(Decimal(30), removal["created"], span)]
    charged = sum(Decimal(str(e["amount"])) for e in entries if e["amount"] < 0)
    added = [a for a in audit if a["prorated_monthly"] == 30]
    assert -charged == sum((expected_proration(Decimal(30), a["created"], span) for a in added), Decimal(0))


def test_services_add_and_delete_plans_all_or_nothing(world, master):
    acc = master.create_account(world.r["id"], unique("Plans Add"))
    one = make_plan(world.r_admin, world.r, {"users": {"admin": {"rate": 1}}})
    two = make_plan(world.r_admin, world.r, {"users": {"user": {"rate": 2}}})
    url = f"accounts/{acc['id']}/services"
    missing = world.r_admin.post(url, {"add": [one["id"], "f" * 32]})
    assert missing.status_code == 404, missing.text
    assert master.get(url).json()["data"]["plans"] == {}, "nothing is assigned when one plan is missing"
    assert world.c_admin.post(f"accounts/{world.c['id']}/services", {"add": [one["id"]]}).status_code == 403
    both = world.r_admin.post(
        url, {"add": [one["id"], {"id": two["id"], "overrides": {"users": {"user": {"rate": 3}}}}]}
    )
    assert both.status_code == 200, both.text
    held = both.json()["data"]["plans"]
    assert set(held) == {one["id"], two["id"]} and held[two["id"]]["overrides"] == {"users": {"user": {"rate": 3}}}
    bad = world.r_admin.post(url, {"add": [{"plan": one["id"]}]})
    assert bad.status_code == 400 and "add" in bad.json()["data"]
    removed = world.r_admin.post(url, {"delete": [one["id"]]})
    assert removed.status_code == 200 and set(removed.json()["data"]["plans"]) == {two["id"]}


def test_a_change_that_raises_the_monthly_total_mails_the_accounts_admins(world, master, smtp):
    acc = master.create_account(world.r["id"], unique("Plans Told"))
    plan = make_plan(world.r_admin, world.r, {"devices": {"sip_device": {"rate": 4}}})
    assert assign(world.r_admin, acc, plan["id"]).status_code == 200
    admin_email = address("plans-admin")
    body = {"first_name": "A", "last_name": "D", "username": admin_email, "password": "pass-word-1"}
    assert master.put(f"accounts/{acc['id']}/users", {**body, "priv_level": "admin"}).status_code == 201
    device = {"name": "Desk", "device_type": "sip_device"}
    assert master.put(f"accounts/{acc['id']}/devices", device, params=ACCEPT).status_code == 201
    (told,) = smtp.wait_for(admin_email)
    assert told.subject == f"The services of {acc['name']} changed"
    assert "devices.sip_device 0 to 1" in told.text and "now $4" in told.text
    assert master.put(f"accounts/{acc['id']}/vmboxes", {"name": "Box", "mailbox": "77"}).status_code == 201
    log = master.get(f"accounts/{acc['id']}/notifications/smtplog").json()["data"]
    assert [row["template_id"] for row in log] == ["service_added"], "a change that costs nothing more mails nobody"

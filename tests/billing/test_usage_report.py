"""The usage report (`/v2/accounts/{A}/usage_charges`): the Control Center's Usage Charges page from the API, for an
account and its sub-accounts, filtered by date, sorted, paged and downloaded as CSV."""

from __future__ import annotations

import asyncio
import csv
import io
from types import SimpleNamespace

import pytest

from cloudpbx.store import new_id
from tests.billing.test_ledgers import credit_last_month, entry, put
from tests.helpers import Client, unique


def call(amount, seconds: int, to: str) -> dict:
    call_id = new_id()
    return entry(
        amount,
        "per-minute-voip",
        call_id,
        usage={"type": "voice", "quantity": seconds, "unit": "sec"},
        description=f"Call to {to}",
        metadata={"call_id": call_id, "to": to},
    )


@pytest.fixture(scope="module")
def tree(master, server):
    """master → reseller R → customer C → sub S; R → sibling X. C and S make calls charged to R too; C had a
    balance last month (a rollover) and uses mobile data."""
    r = master.create_account(master.account_id, unique("Usage Reseller"))
    assert master.put(f"accounts/{r['id']}/reseller").status_code == 200
    c = master.create_account(r["id"], unique("Usage Customer"))
    s = master.create_account(c["id"], unique("Usage Sub"))
    x = master.create_account(r["id"], unique("Usage Sibling"))
    asyncio.run(credit_last_month(server[2], c["id"], 50_000))
    admins = {f"{n}_admin": master.admin_of(a["id"]) for n, a in (("r", r), ("c", c), ("s", s), ("x", x))}
    charged = [
        (c, call(0.5, 30, "+14155550101"), True),
        (c, call(1.25, 75, "+442071838750"), True),
        (c, call(2, 120, "+14155550102"), True),
        (s, call(0.75, 45, "+14155550103"), True),
        (x, call(4, 240, "+14155550104"), False),
        (c, entry(1.5, "mobile-data", usage={"type": "data", "quantity": 250, "unit": "MB"}), False),
    ]
    for account, body, twin in charged:
        resp = put(admins["r_admin"], account, "debit", body, impact_reseller=twin)
        assert resp.status_code == 201, resp.text
    return SimpleNamespace(master=master, r=r, c=c, s=s, x=x, **admins)


def report(client: Client, account: dict, tail: str = "/per_minute", query: str = "", **kw):
    return client.get(f"accounts/{account['id']}/usage_charges{tail}{'?' + query if query else ''}", **kw)


def rows(client: Client, account: dict, tail: str = "/per_minute", query: str = "") -> list[dict]:
    resp = report(client, account, tail, query)
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]


def test_an_account_sees_its_own_and_its_sub_accounts_charges_never_its_resellers(tree):
    seen = rows(tree.c_admin, tree.c)
    assert sorted((row["account"]["id"], row["amount"]) for row in seen) == sorted(
        [(tree.c["id"], -0.5), (tree.c["id"], -1.25), (tree.c["id"], -2), (tree.s["id"], -0.75)]
    )
    assert {row["account"]["name"] for row in seen} == {tree.c["name"], tree.s["name"]}
    alone = rows(tree.c_admin, tree.c, query="descendants=false")
    assert {row["account"]["id"] for row in alone} == {tree.c["id"]} and len(alone) == 3
    reseller = rows(tree.r_admin, tree.r)
    twins = [row for row in reseller if row["account"]["id"] == tree.r["id"]]
    assert sorted(row["amount"] for row in twins) == [-2, -1.25, -0.75, -0.5], "the real-money twins of both"
    assert len(reseller) == 9, "its own twins, the customer's, the sub-account's and the sibling's calls"
    for client, account, allowed in (
        (tree.s_admin, tree.c, False),
        (tree.x_admin, tree.c, False),
        (tree.c_admin, tree.r, False),
        (tree.s_admin, tree.s, True),
        (tree.master, tree.c, True),
    ):
        assert report(client, account).status_code == (200 if allowed else 403), (client.account_id, account)
        assert report(client, account, "").status_code == (200 if allowed else 403)


def test_rows_sort_by_any_column_and_page_in_that_order(tree):
    by_spend = rows(tree.r_admin, tree.r, query="sort_by=amount&descending=false")
    assert [row["amount"] for row in by_spend] == sorted(row["amount"] for row in by_spend)
    assert by_spend[0]["account"]["id"] == tree.x["id"], "the largest spend first"
    by_name = [row["account"]["name"] for row in rows(tree.r_admin, tree.r, query="sort_by=account&descending=false")]
    assert by_name == sorted(by_name)
    newest = rows(tree.c_admin, tree.c)
    assert [row["created"] for row in newest] == sorted((row["created"] for row in newest), reverse=True)
    paged, key = [], None
    while True:
        resp = report(tree.r_admin, tree.r, query="sort_by=amount&page_size=2" + (f"&start_key={key}" if key else ""))
        body = resp.json()
        assert len(body["data"]) <= 2
        paged += [row["id"] for row in body["data"]]
        key = body.get("next_start_key")
        if key is None:
            break
    assert paged == [row["id"] for row in rows(tree.r_admin, tree.r, query="sort_by=amount")]


def test_the_range_filters_rows(tree):
    assert rows(tree.c_admin, tree.c, query="created_from=63000000000&created_to=63000086400") == []
    assert report(tree.c_admin, tree.c, query="created_from=63000000000&created_to=64000000000").status_code == 400


def test_totals_per_account_and_tab(tree):
    totals = {row["account"]["id"]: row for row in rows(tree.c_admin, tree.c, "")}
    assert set(totals) == {tree.c["id"], tree.s["id"]}
    mine = totals[tree.c["id"]]
    assert mine["per_minute"] == {"amount": -3.75, "quantity": 225, "count": 3}
    assert mine["mobile_data"] == {"amount": -1.5, "quantity": 250, "count": 1}
    assert mine["rollovers"]["amount"] == 5 and mine["rollovers"]["count"] == 1
    assert mine["total"] == -0.25
    assert totals[tree.s["id"]]["per_minute"]["amount"] == -0.75 and totals[tree.s["id"]]["total"] == -0.75
    spend = rows(tree.r_admin, tree.r, "", "sort_by=per_minute&descending=false")
    assert [row["per_minute"]["amount"] for row in spend] == sorted(row["per_minute"]["amount"] for row in spend)
    assert [(row["amount"], row["source"]) for row in rows(tree.c_admin, tree.c, "/rollovers")] == [(5, "rollovers")]
    data = rows(tree.c_admin, tree.c, "/mobile_data")
    assert [(row["amount"], row["usage"]) for row in data] == [(-1.5, {"type": "data", "quantity": 250, "unit": "MB"})]


def test_download_as_csv_for_a_billing_system(tree):
    resp = report(tree.c_admin, tree.c, query="sort_by=amount&descending=false", headers={"Accept": "text/csv"})
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(resp.text)))
    assert [float(row["amount"]) for row in table] == [-2, -1.25, -0.75, -0.5]
    assert {row["account_name"] for row in table} == {tree.c["name"], tree.s["name"]}
    assert table[0]["usage_quantity"] == "120" and table[0]["metadata_to"] == "'+14155550102"
    assert all(row["date"][:4].isdigit() and row["metadata_call_id"] for row in table)
    totals = report(tree.c_admin, tree.c, "", headers={"Accept": "text/csv"})
    columns = next(csv.reader(io.StringIO(totals.text)))
    assert {"account_name", "per_minute_amount", "mobile_data_quantity", "rollovers_amount", "total"} <= set(columns)


def test_bad_report_queries_get_clear_errors(tree):
    for query in ("sort_by=nonsense", "descending=maybe", "start_key=-1", "descendants=perhaps", "page_size=0"):
        resp = report(tree.c_admin, tree.c, query=query)
        assert resp.status_code == 400, (query, resp.text)
        assert resp.json()["status"] == "error"
    assert report(tree.c_admin, tree.c, "", "sort_by=created").status_code == 400, (
        "totals sort by account, tab or total"
    )
    assert report(tree.c_admin, tree.c, "/services").status_code == 404


def test_a_user_sees_only_the_accounts_own_charges(tree, master):
    realm = master.get(f"accounts/{tree.c['id']}").json()["data"]["realm"]
    body = {"first_name": "Us", "last_name": "Er", "username": "user", "password": "pass-word-1", "priv_level": "user"}
    master.create(tree.c["id"], "users", body)
    user = Client(master.base)
    user.login("user", "pass-word-1", account_realm=realm)
    assert {row["account"]["id"] for row in rows(user, tree.c)} == {tree.c["id"]}
    assert report(user, tree.c, query="descendants=true").status_code == 403

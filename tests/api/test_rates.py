"""Rate decks through the API: who manages which deck (system admin, reseller on its own and another's deck, plain
account), rates one at a time, a whole deck by CSV (all or nothing, bad lines named), rating a number by the
caller's deck (longest prefix, then direction, then weight)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.conftest import start_server, stop_server
from tests.helpers import Client, unique

CSV = {"Content-Type": "text/csv"}


def deck_name(label: str) -> str:
    return unique(label).replace(" ", "-")


def upload(client, deck: str, text: str):
    return client.request("POST", f"rates?ratedeck_id={deck}", content=text.encode(), headers=CSV)


def rows(client, deck: str) -> list[dict]:
    resp = client.get(f"rates?ratedeck_id={deck}&paginate=false")
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]


@pytest.fixture(scope="module")
def world(master):
    """master → reseller R → customer C; master → reseller Q; master → plain account P."""
    r = master.create_account(master.account_id, unique("Rates Reseller"))
    assert master.put(f"accounts/{r['id']}/reseller").status_code == 200
    q = master.create_account(master.account_id, unique("Rates Other Reseller"))
    assert master.put(f"accounts/{q['id']}/reseller").status_code == 200
    c = master.create_account(r["id"], unique("Rates Customer"))
    p = master.create_account(master.account_id, unique("Rates Plain"))
    clients = {f"{n}_admin": master.admin_of(a["id"]) for n, a in (("r", r), ("q", q), ("c", c), ("p", p))}
    return SimpleNamespace(master=master, r=r, q=q, c=c, p=p, **clients)


def test_a_rate_is_created_read_changed_and_deleted_in_dollars(world):
    deck = deck_name("crud")
    resp = world.master.put("rates", {"prefix": "4420", "rate_cost": 0.0123, "ratedeck_id": deck})
    assert resp.status_code == 201, resp.text
    rate = resp.json()["data"]
    assert rate["rate_cost"] == 0.0123 and rate["prefix"] == "4420" and rate["direction"] == ["inbound", "outbound"]
    assert (rate["rate_increment"], rate["rate_minimum"], rate["rate_surcharge"], rate["rate_nocharge_time"]) == (
        60,
        60,
        0,
        0,
    ), "KAZOO's defaults"
    path = f"rates/{rate['id']}"
    assert world.master.get(path).json()["data"] == rate
    patched = world.master.patch(path, {"rate_surcharge": 0.25, "direction": "outbound"}).json()["data"]
    assert patched["rate_surcharge"] == 0.25 and patched["direction"] == ["outbound"] and patched["rate_cost"] == 0.0123
    replaced = world.master.post(path, {"prefix": "44", "rate_cost": "0.5"}).json()["data"]
    assert replaced["prefix"] == "44" and replaced["rate_surcharge"] == 0 and replaced["ratedeck_id"] == deck
    assert world.master.delete(path).status_code == 200
    assert world.master.get(path).status_code == 404


def test_bad_rates_get_validation_errors_and_store_nothing(world):
    deck = deck_name("bad")
    resp = world.master.put(
        "rates",
        {
            "prefix": "44a",
            "rate_cost": 0.00001,
            "rate_increment": 0,
            "weight": 101,
            "colour": "red",
            "ratedeck_id": deck,
        },
    )
    assert resp.status_code == 400, resp.text
    errors = resp.json()["data"]
    assert set(errors) == {"prefix", "rate_cost", "rate_increment", "weight", "colour"}
    assert "precision" in errors["rate_cost"], "an amount finer than a unit is refused, not rounded"
    assert world.master.put("rates", {"rate_cost": 1, "ratedeck_id": "bad deck"}).json()["data"].keys() >= {
        "prefix",
        "ratedeck_id",
    }
    assert world.master.put("rates", [1, 2]).status_code == 400
    assert rows(world.master, deck) == []


def test_tenant_isolation(world):
    """A system admin manages every deck, a reseller its own only, any other account none."""
    own = deck_name("r-own")
    made = world.r_admin.put("rates", {"prefix": "33", "rate_cost": 0.02, "ratedeck_id": own})
    assert made.status_code == 201, made.text
    rate_id = made.json()["data"]["id"]
    assert [d for d in world.r_admin.get("rates/ratedecks").json()["data"] if d["id"] == own] == [
        {"id": own, "owner_id": world.r["id"], "rates": 1}
    ]
    assert world.r_admin.get(f"rates/{rate_id}").status_code == 200
    assert world.master.get(f"rates/{rate_id}").status_code == 200, "the system admin sees every deck"

    # another reseller neither sees nor changes it, nor writes into it
    assert world.q_admin.get(f"rates/{rate_id}").status_code == 404
    assert world.q_admin.patch(f"rates/{rate_id}", {"rate_cost": 0}).status_code == 404
    assert world.q_admin.delete(f"rates/{rate_id}").status_code == 404
    assert own not in {d["id"] for d in world.q_admin.get("rates/ratedecks").json()["data"]}
    assert all(r["ratedeck_id"] != own for r in world.q_admin.get("rates?paginate=false").json()["data"])
    refused = world.q_admin.put("rates", {"prefix": "34", "rate_cost": 0.01, "ratedeck_id": own})
    assert refused.status_code == 403 and "another account" in refused.json()["data"]["message"]
    assert upload(world.q_admin, own, "prefix,rate_cost\n1,0.01\n").status_code == 403
    assert world.q_admin.put("rates", {"prefix": "1", "rate_cost": 1, "ratedeck_id": "default"}).status_code == 403

    # neither a customer of the reseller nor a plain account manages decks
    for client in (world.c_admin, world.p_admin):
        for resp in (
            client.get("rates"),
            client.get("rates/ratedecks"),
            client.get(f"rates/{rate_id}"),
            client.put("rates", {"prefix": "35", "rate_cost": 0.01, "ratedeck_id": deck_name("mine")}),
            upload(client, deck_name("mine"), "prefix,rate_cost\n1,0.01\n"),
        ):
            assert resp.status_code == 403, resp.text
    assert [r["id"] for r in rows(world.r_admin, own)] == [rate_id], "nothing changed"

    # the system admin may change it
    assert world.master.patch(f"rates/{rate_id}", {"rate_cost": 0.03}).status_code == 200


def test_a_csv_deck_with_bad_rows_names_each_line_and_field_and_stores_nothing(world):
    deck = deck_name("csv")
    good = "prefix,iso_country_code,description,rate_cost,rate_increment,rate_minimum,direction\n"
    good += "44,GB,United Kingdom,0.02,60,60,outbound\n4420,GB,London,0.01,6,30,\n"
    assert upload(world.master, deck, good).json()["data"] == {"ratedeck_id": deck, "rates": 2}
    before = rows(world.master, deck)

    bad = (
        "prefix,rate_cost,rate_increment,direction\n"
        "33,0.05,60,outbound\n"
        "3x,0.05,60,outbound\n"  # line 3: prefix
        "34,-1,60,sideways\n"  # line 4: rate_cost and direction
        "\n"
        "35,0.05\n"  # line 6: too few cells
        "36,,60,inbound\n"  # line 7: rate_cost required
    )
    resp = upload(world.master, deck, bad)
    assert resp.status_code == 400, resp.text
    detail = resp.json()["data"]["file"]["rows"]
    assert detail["message"] == "4 rows are not valid; nothing was stored"
    assert [(p["line"], p["field"]) for p in detail["rows"]] == [
        (3, "prefix"),
        (4, "rate_cost"),
        (4, "direction"),
        (6, "*"),
        (7, "rate_cost"),
    ]
    assert detail["more"] == 0
    assert rows(world.master, deck) == before, "the deck is as it was"


def test_the_error_list_is_capped_and_says_how_many_more(world):
    deck = deck_name("many-bad")
    text = "prefix,rate_cost\n" + "".join(f"{i}x,0.01\n" for i in range(250))
    resp = upload(world.master, deck, text)
    detail = resp.json()["data"]["file"]["rows"]
    assert len(detail["rows"]) == 100 and detail["more"] == 150 and detail["rows"][0]["line"] == 2


def test_a_csv_that_is_not_a_deck_gets_a_clear_error(world):
    deck = deck_name("not-a-deck")
    for text, rule in (
        ("prefix,cost\n1,2\n", "columns"),
        ("rate_cost\n1\n", "columns"),
        ('prefix,rate_cost\n"1,2\n', "format"),
    ):
        resp = upload(world.master, deck, text)
        assert resp.status_code == 400 and rule in resp.json()["data"]["file"], resp.text
    assert upload(world.master, deck, "").status_code == 400
    resp = world.master.request("POST", f"rates?ratedeck_id={deck}", content=b"\xff\xfe", headers=CSV)
    assert resp.status_code == 400 and "encoding" in resp.json()["data"]["file"]
    resp = upload(world.master, "bad/deck", "prefix,rate_cost\n1,2\n")
    assert resp.status_code in (400, 404)
    resp = upload(world.master, deck, "prefix,rate_cost,ratedeck_id\n1,0.01,another\n")
    assert resp.json()["data"]["file"]["rows"]["rows"][0]["field"] == "ratedeck_id"
    too_big = world.master.request(
        "POST", f"rates?ratedeck_id={deck}", content=b"prefix,rate_cost\n" + b"1" * (33 * 1024 * 1024), headers=CSV
    )
    assert too_big.status_code == 413
    assert rows(world.master, deck) == []


def test_the_api_document_says_a_deck_is_uploaded_as_csv(world):
    upload_body = world.master.get("openapi.json").json()["paths"]["/rates"]["post"]["requestBody"]["content"]
    assert {"text/csv", "multipart/form-data"} <= set(upload_body) and "application/octet-stream" not in upload_body


def test_an_upload_of_100000_rates_replaces_the_deck_whole(world):
    deck = deck_name("big")
    assert upload(world.master, deck, "prefix,rate_cost\n999,1\n").status_code == 200
    text = "prefix,iso_country_code,description,rate_cost,direction\n" + "".join(
        f"{1_000_000 + i},XX,Route {i},0.{i % 10_000:04d},{('inbound', 'outbound', 'both')[i % 3]}\n"
        for i in range(100_000)
    )
    resp = upload(world.master, deck, text)
    assert resp.status_code == 200, resp.text
    assert resp.json()["data"] == {"ratedeck_id": deck, "rates": 100_000}
    decks = {d["id"]: d for d in world.master.get("rates/ratedecks").json()["data"]}
    assert decks[deck]["rates"] == 100_000, "the old deck's rate is gone"
    page = world.master.get(f"rates?ratedeck_id={deck}&page_size=50").json()
    assert len(page["data"]) == 50 and page["next_start_key"]


def test_a_number_is_rated_by_the_callers_deck(world):
    deck = deck_name("rating")
    text = (
        "prefix,rate_cost,direction,weight,rate_name\n"
        "1,0.01,both,100,us\n"
        "1415,0.02,both,50,sf-both\n"
        "1415,0.03,outbound,90,sf-out\n"
        "1415,0.04,outbound,10,sf-out-preferred\n"
        "141555,0.05,inbound,1,sf-in-only\n"
        "44,0.06,both,1,uk\n"
    )
    assert upload(world.r_admin, deck, text).status_code == 200
    assert world.master.post(f"accounts/{world.c['id']}/ratedeck", {"ratedeck_id": deck}).status_code == 200

    def rated(number: str, direction: str = "outbound") -> str | int:
        resp = world.c_admin.get(f"rates/number/{number}?direction={direction}")
        return resp.json()["data"]["rate_name"] if resp.status_code == 200 else resp.status_code

    assert rated("+14155550100") == "sf-out-preferred", "longest prefix, own direction first, then lowest weight"
    assert rated("4155550100") == "sf-out-preferred", "a number as dialled is normalised first"
    assert rated("+14155550100", "inbound") == "sf-in-only", "the longest prefix for the direction"
    assert rated("+14165550100") == "us"
    kazoo = world.c_admin.get("rates/number/4155550100").json()["data"]
    assert {k: kazoo[k] for k in ("E164-Number", "Prefix", "Rate", "Rate-Minimum", "Base-Cost", "Rate-Name")} == {
        "E164-Number": "+14155550100",
        "Prefix": "1415",
        "Rate": 0.04,
        "Rate-Minimum": 60,
        "Base-Cost": 0.04,
        "Rate-Name": "sf-out-preferred",
    }, "the keys KAZOO answers with"
    assert rated("+442071234567") == "uk"
    missing = world.c_admin.get("rates/number/+33123456789")
    assert missing.status_code == 404 and missing.json()["message"] == "no_rate_found"
    assert "+33123456789" in missing.json()["data"]["message"]
    assert world.c_admin.get("rates/number/1000").status_code == 400, "an extension is un-rateable"

    # the deck changes, the next lookup sees it
    first = next(r for r in rows(world.r_admin, deck) if r["rate_name"] == "sf-out-preferred")
    assert world.r_admin.delete(f"rates/{first['id']}").status_code == 200
    assert rated("+14155550100") == "sf-out"


def test_an_accounts_deck_is_set_by_its_reseller_or_a_system_admin(world):
    path = f"accounts/{world.c['id']}/ratedeck"
    mine = deck_name("assign")
    assert world.r_admin.put("rates", {"prefix": "1", "rate_cost": 1, "ratedeck_id": mine}).status_code == 201
    theirs = deck_name("assign-q")
    assert world.q_admin.put("rates", {"prefix": "1", "rate_cost": 1, "ratedeck_id": theirs}).status_code == 201

    assert world.r_admin.post(path, {"ratedeck_id": mine}).json()["data"] == {"ratedeck_id": mine}
    assert world.c_admin.get(path).json()["data"] == {"ratedeck_id": mine}
    renamed = world.c_admin.patch(f"accounts/{world.c['id']}", {"name": unique("Rates Customer renamed")})
    assert renamed.status_code == 200 and "ratedeck_id" not in str(renamed.json()["data"]), "kept private"
    assert world.c_admin.get(path).json()["data"] == {"ratedeck_id": mine}, "an account's own edit keeps its deck"
    assert world.r_admin.post(path, {"ratedeck_id": theirs}).status_code == 403, "another reseller's deck"
    assert world.c_admin.post(path, {"ratedeck_id": None}).status_code == 403, "never the account itself"
    assert world.q_admin.post(path, {"ratedeck_id": theirs}).status_code == 403, "not its reseller"
    assert world.r_admin.post(path, {"ratedeck_id": "no-such-deck"}).status_code == 400
    assert world.master.post(path, {"ratedeck_id": None}).json()["data"] == {"ratedeck_id": "default"}
    assert world.c_admin.get(path).json()["data"] == {"ratedeck_id": "default"}


def test_a_deck_changed_through_one_process_is_rated_anew_by_another(server, world, tmp_path):
    deck = deck_name("two-nodes")
    assert upload(world.r_admin, deck, "prefix,rate_cost,rate_name\n1,0.01,old\n").status_code == 200
    assert world.master.post(f"accounts/{world.c['id']}/ratedeck", {"ratedeck_id": deck}).status_code == 200
    proc, base = start_server(tmp_path, server[2])  # a second process on the same database
    try:
        there = Client(base, world.c_admin.token)
        assert there.get("rates/number/+14155550100").json()["data"]["rate_name"] == "old", "its index is built"
        assert upload(world.r_admin, deck, "prefix,rate_cost,rate_name\n1415,0.02,new\n").status_code == 200
        rated = there.get("rates/number/+14155550100").json()["data"]
        assert (rated["rate_name"], rated["rate_cost"]) == ("new", 0.02)
        assert there.get("rates/number/+12125550100").json()["message"] == "no_rate_found", "the old deck is gone"
    finally:
        stop_server(proc)

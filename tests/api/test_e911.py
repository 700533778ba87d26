"""E911 addresses on numbers carry what a dispatcher (PSAP) needs: street, city, region, postal code and country.

Through `PUT`/`POST`/`PATCH /v2/accounts/{A}/phone_numbers/{N}`: every missing or wrong field is named in one 400,
and a refused change leaves the stored address as it was.
"""

from __future__ import annotations

import random

import pytest

from tests.api.test_phone_numbers import E911, add, block
from tests.helpers import unique


@pytest.fixture(scope="module")
def account(master) -> str:
    return master.create_account(master.account_id, unique("E911 Addresses"))["id"]


def url(account: str, number: str) -> str:
    return f"accounts/{account}/phone_numbers/{number}"


def errors(resp) -> dict:
    assert resp.status_code == 400, resp.text
    body = resp.json()
    assert body["error"] == "400" and body["message"] == "validation error"
    return body["data"]


def test_every_missing_field_is_named_and_the_number_is_not_added(master, account):
    number = block()[0]
    missing = errors(master.put(url(account, number), {"e911": {"caller_name": "Front desk"}}))
    assert {"e911.street_address", "e911.locality", "e911.region", "e911.postal_code"} <= missing.keys()
    assert all("required" in missing[key] for key in ("e911.street_address", "e911.postal_code"))
    assert master.get(url(account, number)).status_code == 404


def test_a_north_american_address_takes_its_country_from_the_region(master, account):
    us, canada, territory = block(3)
    assert add(master, account, us, e911=E911)["e911"]["country"] == "US"
    ottawa = dict(E911, street_address="80 Wellington St", locality="Ottawa", region="on", postal_code="k1a0a2")
    assert add(master, account, canada, e911=ottawa)["e911"]["country"] == "CA"
    san_juan = dict(E911, locality="San Juan", region="PR", postal_code="00901", country="pr")
    assert add(master, account, territory, e911=san_juan)["e911"]["country"] == "PR"
    wrong = errors(master.post(url(account, us), {"e911": dict(E911, country="CA")}))
    assert "invalid" in wrong["e911.country"] and wrong["e911.country"]["invalid"]["value"] == "CA"
    assert master.get(url(account, us)).json()["data"]["e911"]["country"] == "US", "the stored address is kept"


def test_a_number_outside_north_america_must_name_its_country(master, account):
    number = f"+4420{random.randrange(10**7, 10**8)}"
    london = {"street_address": "10 Downing St", "locality": "London", "region": "LN", "postal_code": "SW1A 2AA"}
    missing = errors(master.put(url(account, number), {"e911": london}))
    assert "required" in missing["e911.country"]
    assert master.get(url(account, number)).status_code == 404
    stored = add(master, account, number, e911=dict(london, country="gb"))
    assert stored["e911"]["country"] == "GB" and "e911" in stored["features"]
    blank = errors(master.post(url(account, number), {"e911": dict(london, country="  ")}))
    assert "minLength" in blank["e911.country"]


def test_a_patch_that_removes_a_needed_field_is_refused_and_changes_nothing(master, account):
    number = block()[0]
    add(master, account, number, e911=E911)
    removed = errors(master.patch(url(account, number), {"e911": {"locality": None, "postal_code": " "}}))
    assert "required" in removed["e911.locality"] and "minLength" in removed["e911.postal_code"]
    kept = master.get(url(account, number)).json()["data"]["e911"]
    assert (kept["locality"], kept["postal_code"]) == ("San Francisco", "94105")

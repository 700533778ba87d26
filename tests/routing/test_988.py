"""The operator guide's 988 recipe as stored data: a carrier named "988 Emergency" with the rule `^988(\\d{0})$`, the
prefix +18002738255 and PCMU only, saved through the API as an account's own carrier (the guide's BYOC case), in
both shapes a client writes it (a plain rule on an emergency carrier, or an `emergency` classifier rule as the
Carriers app does); route decisions run in-process over the served database."""

from __future__ import annotations

import pytest

from cloudpbx.config import Settings
from cloudpbx.routing.decision import Request
from cloudpbx.services import Services
from tests.helpers import unique

LIFELINE = "+18002738255"
RULE = r"^988(\d{0})$"


@pytest.fixture(scope="module")
async def services(server):
    opened = await Services.open(Settings(data_dir=server[1], db_url=server[2]))
    yield opened
    await opened.close()


RECIPES = {
    "rule": {
        "name": "988 Emergency",
        "emergency": True,
        "rules": [RULE],
        "gateways": [{"server": "127.0.0.88", "prefix": LIFELINE, "codecs": ["PCMU"]}],
    },
    "classifier": {
        "name": "988 Emergency",
        "classifiers": {"emergency": {"regex": RULE, "prefix": LIFELINE}},
        "rules_test": ["^988$"],
        "gateways": [{"server": "127.0.0.88", "codecs": ["PCMU"]}],
    },
}


@pytest.mark.parametrize("shape", list(RECIPES))
async def test_dialling_988_reaches_the_lifeline_through_the_stored_988_carrier(master, services, shape):
    account = master.create_account(master.account_id, unique("Lifeline"))["id"]
    created = master.put(f"accounts/{account}/resources", RECIPES[shape])
    assert created.status_code == 201, created.text
    stored = created.json()["data"]
    assert stored["gateways"][0]["codecs"] == ["PCMU"]
    dial_plan = ({"^(\\d{3})$": {"prefix": "+1415"}},)  # a short-code plan must not touch 988
    decision = await services.routes.decide(Request("988", dial_plans=dial_plan), local=account)
    assert decision.classification == "emergency" and decision.emergency and decision.number == "988"
    assert [(e.carrier.id.split("-")[0], e.dial_string) for e in decision.endpoints] == [
        (stored["id"], f"sip:{LIFELINE}@127.0.0.88")
    ]
    endpoint = decision.endpoints[0]
    assert endpoint.emergency and endpoint.gateway.codecs == ("PCMU",) and endpoint.carrier.name.startswith("988")
    assert decision.test is (shape == "classifier"), "a carrier whose rules_test takes 988 marks it a test"
    assert (await services.routes.decide(Request("9880"), local=account)).endpoints == ()

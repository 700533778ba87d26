"""The route plan against the served database (`Services` opened in-process, as another node would): it decides
with the very `Routes.decide` a call uses, previews trunk limits without taking a lease, agrees with `authorize`
on the same counts, and sends port-ins out; and `cloudpbx route explain` prints the plan."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest

from cloudpbx.accounts.kinds import DEVICE
from cloudpbx.config import Settings
from cloudpbx.limits.decision import OUTBOUND, CarrierCall
from cloudpbx.services import Services
from tests.helpers import unique


@pytest.fixture(scope="module")
async def services(server):
    opened = await Services.open(Settings(data_dir=server[1], db_url=server[2]))
    yield opened
    await opened.close()


@pytest.fixture
def account(master) -> str:
    created = master.create_account(master.account_id)["id"]
    body = {"name": "BYOC", "rules": [r"^\+1(\d{10})$"], "gateways": [{"server": "127.0.0.2", "prefix": "9"}]}
    master.create(created, "resources", body)
    return created


def number() -> str:
    return f"+1628{random.randrange(200, 999)}{random.randrange(1000, 9999)}"


async def test_the_plan_decides_as_a_call_does(services, account):
    plan = await services.plans.plan(account, "6285550100", use_local_resources=True, flags=("", "fax"))
    assert plan.request.flags == ("fax",) and plan.number == "+16285550100"
    again = await services.routes.decide(plan.request, local=account)
    assert plan.decision is not None
    assert [e.dial_string for e in plan.decision.endpoints] == [e.dial_string for e in again.endpoints] == []
    plain = await services.plans.plan(account, "6285550100", use_local_resources=True)
    assert plain.decision is not None
    assert [e.dial_string for e in plain.decision.endpoints] == ["sip:96285550100@127.0.0.2"]
    assert plain.explain()["route"] == (await services.routes.decide(plain.request, local=account)).explain()


async def test_a_preview_takes_no_trunk_and_a_call_takes_one_by_the_same_decision(master, services, account):
    assert master.post(f"accounts/{account}/limits", {"outbound_trunks": 1}).status_code == 200
    call = CarrierCall(OUTBOUND, "+16285550100", "did_us")
    preview = await services.trunks.preview(account, call)
    assert preview.allowed and preview.account.trunk == "outbound"
    plan = await services.plans.plan(account, "+16285550100", use_local_resources=True)
    assert plan.outcome == "carriers" and plan.limits is not None and plan.limits.account.trunk == "outbound"
    assert (await services.trunks.usage(account))["calls"] == 0
    placed = await services.plans.plan(account, "+16285550100", use_local_resources=True, call_id=unique("call"))
    assert placed.outcome == "carriers" and placed.limits is not None and placed.limits.allowed
    assert (await services.trunks.usage(account))["outbound"] == 1
    busy = await services.plans.plan(account, "+16285550100", use_local_resources=True)
    assert busy.outcome == "limits_denied" and busy.cause == "OUTGOING_CALL_BARRED"
    assert busy.limits is not None and busy.limits.reason == "trunks_exhausted"
    refused = await services.plans.plan(account, "+16285550100", use_local_resources=True, call_id=unique("call"))
    assert refused.outcome == "limits_denied" and refused.limits is not None
    assert refused.limits.reason == busy.limits.reason and (await services.trunks.usage(account))["calls"] == 1
    await services.trunks.release(placed.limits)
    assert (await services.plans.plan(account, "+16285550100", use_local_resources=True)).outcome == "carriers"
    assert (await services.trunks.usage(account))["calls"] == 0


async def test_a_hunt_account_lends_its_own_carriers(master, services, account):
    child = master.create_account(account)["id"]
    own = await services.plans.plan(child, "+16285550100", use_local_resources=True)
    assert own.outcome == "no_route" and own.local == child
    hunted = await services.plans.plan(child, "+16285550100", use_local_resources=True, hunt_account_id=account)
    assert hunted.local == account and hunted.decision is not None
    assert [e.dial_string for e in hunted.decision.endpoints] == ["sip:96285550100@127.0.0.2"]


async def test_a_number_being_ported_in_is_called_through_the_carrier(master, services, account):
    ported = number()
    created = master.put(f"accounts/{account}/phone_numbers/{ported}", {"create_with_state": "port_in"})
    assert created.status_code == 201, created.text
    plan = await services.plans.plan(account, ported, use_local_resources=True)
    assert plan.on_net is not None and not plan.on_net.delivered and plan.on_net.account_id == account
    assert plan.decision is not None and plan.decision.endpoints and plan.outcome == "limits_denied"


def cli(server, *args: str) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "cloudpbx", "route", "--data-dir", str(server[1]), "--db", server[2], *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def test_the_cli_prints_the_plan_for_a_human_and_as_json(master, server, account):
    device = master.create(account, "devices", {"name": unique("Desk")})["id"]
    marked = {"name": "[bold]Marked[/bold]", "rules": [r"^\+1([a-z0-9]{10})$"], "weight_cost": 90}
    master.create(account, "resources", {**marked, "gateways": [{"server": "127.0.0.3"}]})
    human = cli(server, "explain", account, "6285550100", "--local", "--device", device)
    assert human.returncode == 0, human.stdout + human.stderr
    assert "limits_denied (OUTGOING_CALL_BARRED)" in human.stdout
    assert "sip:96285550100@127.0.0.2" in human.stdout and "BYOC" in human.stdout
    assert "trunks_exhausted" in human.stdout
    assert "[bold]Marked[/bold]" in human.stdout and "[a-z0-9]" in human.stdout  # stored text is not markup
    as_json = cli(server, "explain", account, "6285550100", "--local", "--json", "--flag", "fax")
    assert as_json.returncode == 0, as_json.stderr
    explained = json.loads(as_json.stdout)
    assert explained["flags"] == ["fax"] and explained["outcome"] == "no_route"
    assert explained["route"]["carriers"][0]["verdict"] == "lacks flags ['fax']"
    missing = cli(server, "explain", "0" * 32, "6285550100")
    assert missing.returncode == 1 and "no account" in missing.stderr
    stranger = cli(server, "explain", account, "6285550100", "--device", "f" * 32)
    assert stranger.returncode == 1 and "no device" in stranger.stderr


async def test_the_plan_judges_restrictions_as_the_callflow_engine_checks_them(master, services, account):
    user = master.create(
        account,
        "users",
        {"first_name": "In", "last_name": "Ter", "call_restriction": {"international": {"action": "deny"}}},
    )
    device = master.create(account, "devices", {"name": unique("Desk"), "owner_id": user["id"]})
    stored = await services.documents.find(DEVICE, account, device["id"])
    for dialled in ("011442071838750", "6285550100", "911"):
        plan = await services.plans.plan(account, dialled, stored, use_local_resources=True)
        assert plan.restriction == await services.restrictions.check(account, stored, dialled)
    assert plan.restriction.reason == "emergency numbers are never barred"
    barred = await services.plans.plan(account, "011442071838750", stored, use_local_resources=True)
    assert barred.outcome == "barred" and barred.restriction.levels == (
        ("account", None),
        ("owner", "deny"),
        ("device", None),
    )

"""Service plans (KAZOO's `service_plans`): documents a reseller keeps in its own account and sells to the accounts
below it, and each account's `services` document naming the plans assigned to it (with overrides) and its billing
mode. The plan picks the rate deck of per-minute calls (`ratedeck_of`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from cloudpbx import schemas
from cloudpbx.accounts.documents import Kind
from cloudpbx.billing.invoice import Assigned
from cloudpbx.billing.ledgers import to_units
from cloudpbx.errors import Invalid
from cloudpbx.store import Doc, Store, Tx

SERVICES_ID = "services"
SERVICES_TYPE = "services"
BILLING_MODES = ("self_manage", "credit", "card")  # seed: "Self Manage" (default), account credit, card on file
MONEY = ("rate", "flat_rate", "activation_charge")
TIERED = ("rates", "flat_rates")


async def _check_money(tx: Tx, account_id: str, doc: Doc, old: Doc | None) -> None:
    """Every amount of the plan converts exactly to units (4 decimals at most), so pricing never fails later."""
    _amounts(doc.get("plan", {}))


def _amounts(plan: dict) -> None:
    for category, items in plan.items():
        for name, item in items.items():
            path = f"plan.{category}.{name}"
            amounts = [(field, item.get(field)) for field in MONEY]
            amounts += [(f"{field}.{key}", value) for field in TIERED for key, value in item.get(field, {}).items()]
            for kind, rule in item.get("discounts", {}).items():
                amounts.append((f"discounts.{kind}.rate", rule.get("rate")))
                amounts += [(f"discounts.{kind}.rates.{key}", value) for key, value in rule.get("rates", {}).items()]
            for where, value in amounts:
                if value:
                    to_units(value, f"{path}.{where}")


def checked_plan(plan: Any, path: str) -> None:
    """A `plan` object (a plan's, or one with overrides merged in) as the plan schema and exact amounts allow;
    errors are named under `path` (e.g. `overrides.users.user.rate`)."""
    _, errors = schemas.validate(SERVICE_PLAN.name, {"name": "-", "plan": plan})
    try:
        if not errors:
            _amounts(plan)
    except Invalid as exc:
        errors = exc.data
    if errors:
        raise Invalid({path + key.removeprefix("plan"): rule for key, rule in errors.items()})


SERVICE_PLAN = Kind(
    name="service_plans",
    type="service_plan",
    summary=("id", "name", "description", "category"),
    prepare=_check_money,
)


def services_doc(account_id: str, found: Doc | None) -> Doc:
    """The account's services document, or a fresh one (no plans, Self Manage)."""
    if found is not None:
        return found
    return {"_id": SERVICES_ID, "pvt_type": SERVICES_TYPE, "pvt_account_id": account_id, "plans": {}}


def billing_mode(services: Doc) -> str:
    mode = services.get("billing_mode")
    return mode if mode in BILLING_MODES else "self_manage"


async def assigned(tx: Tx, account_id: str) -> tuple[Doc, list[Assigned]]:
    """The account's services document and the plans it holds that still exist (read in this transaction)."""
    services = services_doc(account_id, await tx.find(account_id, SERVICES_ID))
    return services, await _held(tx.find, services)


async def _held(find: Callable[[str, str], Awaitable[Doc | None]], services: Doc) -> list[Assigned]:
    plans = []
    for plan_id, held in sorted(services.get("plans", {}).items()):
        found = await find(held.get("vendor_id", ""), plan_id)
        if found is not None and found.get("pvt_type") == SERVICE_PLAN.type:
            plans.append(Assigned(found, held.get("overrides") or {}))
    return plans


def deck_of_plans(plans: list[Assigned]) -> str | None:
    """The deck of the highest-priority plan that names one."""
    ranked = sorted(plans, key=lambda a: int(a.plan.get("merge", {}).get("priority", 0)), reverse=True)
    for one in ranked:
        deck = one.plan.get("ratedeck", {}).get("id")
        if isinstance(deck, str) and deck:
            return deck
    return None


async def ratedeck_of(store: Store, account_id: str) -> str | None:
    """The rate deck the account's service plans pick for its per-minute calls, or None when none picks one. Asked
    as each per-minute call is rated, so it reads by point reads (no transaction): one for an account without plans."""
    services = services_doc(account_id, await store.find(account_id, SERVICES_ID))
    return deck_of_plans(await _held(store.find, services))


def checked_mode(value: Any) -> str:
    if value not in BILLING_MODES:
        raise Invalid.field(
            "billing_mode", "enum", "Value not found in enumerated list of values", target=BILLING_MODES
        )
    return value

"""An account's services (KAZOO's `kz_services`): its plans, quantities and invoice; assigning and removing plans;
pricing a change before it is made (the 402 handshake) and recording each change of quantities or plans in the
audit, with what it adds to the month (for prorations) and at once (activation charges).

Recording locks the account's `services_state` row, counts, compares and writes the audit entry in one
transaction, so processes sharing the database record each change once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from cloudpbx.accounts.documents import Documents, merge_patch, public
from cloudpbx.accounts.tree import AccountDirectory, AccountNode
from cloudpbx.billing import invoice as invoices
from cloudpbx.billing import ledgers, plans
from cloudpbx.billing.items import Line
from cloudpbx.billing.quantities import count, features, number_item
from cloudpbx.errors import Conflicting, Invalid, Missing
from cloudpbx.notify import sending
from cloudpbx.numbers.classification import Classifiers
from cloudpbx.numbers.classifiers import is_did, normalize
from cloudpbx.store import SYSTEM, Conflict, Doc, Store, gregorian_now, keys, new_id
from cloudpbx.store import services as rows

Additions = dict[tuple[str, str], int]


@dataclass(frozen=True)
class Invoice:
    """The account's merged plan priced against its quantities."""

    plan: dict
    lines: list[Line]
    counted: Any  # quantities.Counted
    services: Doc
    assigned: list[invoices.Assigned]

    @property
    def recurring(self) -> int:
        return invoices.recurring(self.lines)


class ServicePlans:
    def __init__(self, store: Store, directory: AccountDirectory, documents: Documents, classifiers: Classifiers):
        self.store, self.directory, self.documents, self.classifiers = store, directory, documents, classifiers

    async def vendor_id(self, node: AccountNode) -> str:
        """Whose plans the account may hold: its reseller (the closest above it), else the master account."""
        return await self.directory.reseller_id(node)

    async def owned(self, account_id: str) -> list[Doc]:
        return await self.documents.list(plans.SERVICE_PLAN, account_id)

    async def available(self, node: AccountNode) -> list[Doc]:
        vendor = await self.vendor_id(node)
        return [] if vendor == node.id else await self.owned(vendor)

    async def invoice(
        self, node: AccountNode, extra: list[invoices.Assigned] | None = None, tree: bool | None = True
    ) -> Invoice:
        """Priced with the assigned plans, or with `extra` instead when given (a quote). `tree=None` counts the
        account's tree only when its plan has cascade items (what pricing needs, not what a summary shows)."""
        async with self.store.read() as tx:
            services, held = await plans.assigned(tx, node.id)
        chosen = held if extra is None else extra
        plan = invoices.merged(chosen, services.get("overrides") if extra is None else None)
        whole = cascades(plan) if tree is None else tree
        counted = await count(self.store, node, await self.classifiers.current(), whole)
        return Invoice(plan, invoices.lines(plan, counted.own, counted.cascade), counted, services, chosen)

    async def charges(self, node: AccountNode, additions: Additions) -> list[invoices.Charge]:
        """What a change adding `additions` to the account would cost (nothing when its plans do not bill it)."""
        current = await self.invoice(node, tree=None)
        after = invoices.lines(
            current.plan,
            invoices.plus(current.counted.own, additions),
            invoices.plus(current.counted.cascade, additions),
        )
        return invoices.charges(current.lines, after)

    async def number_additions(self, account_id: str, numbers: list[str]) -> Additions:
        """The numbers the account would add (those it does not hold yet), by classifier."""
        rules = await self.classifiers.current()
        out: Additions = {}
        for number in {normalize(n) for n in numbers if isinstance(n, str)}:
            if is_did(number) and await self.store.lookup(*keys.number(number)) != (account_id, number):
                item = number_item(number, rules)
                out[item] = out.get(item, 0) + 1
        return out

    async def feature_additions(self, account_id: str, number: str, data: dict, patch: bool) -> Additions:
        """The number features a change of the account's number turns on (`number_services.<feature>`)."""
        e164 = normalize(number)
        old = await self.store.find(SYSTEM, e164) if is_did(e164) else None
        if old is None or old.get("pvt_assigned_to") != account_id:
            return {}
        new = merge_patch(old, data) if patch else data
        return {("number_services", name): 1 for name in features(new) - features(old)}

    async def assign(self, node: AccountNode, plan_id: str, overrides: Any, who: str) -> Doc:
        """Give the account one of its vendor's plans (or change the overrides it holds it with)."""
        return await self.change_plans(node, {plan_id: overrides}, [], who)

    async def change_plans(self, node: AccountNode, add: dict[str, Any], delete: list[str], who: str) -> Doc:
        """Add plans of the account's vendor (id -> overrides) and remove held ones, all or nothing."""
        vendor = await self.vendor_id(node)
        held = {}
        for plan_id, overrides in add.items():
            if overrides is not None and not isinstance(overrides, dict):
                raise Invalid.field("overrides", "type", "Value did not match type(s): object")
            found = None if vendor == node.id else await self.documents.find(plans.SERVICE_PLAN, vendor, plan_id)
            if found is None:
                raise Missing(plan_id)
            plans.checked_plan(merge_patch(found.get("plan", {}), overrides or {}), "overrides")
            held[plan_id] = {"vendor_id": vendor, "overrides": overrides or {}}

        def edit(services: Doc) -> Doc:
            kept = {k: v for k, v in services.get("plans", {}).items() if k not in delete}
            return {**services, "plans": {**kept, **held}}

        return await self._change(node, edit, "plan_added" if held else "plan_removed", who)

    async def remove(self, node: AccountNode, plan_id: str, who: str) -> Doc:
        async with self.store.read() as tx:
            services = plans.services_doc(node.id, await tx.find(node.id, plans.SERVICES_ID))
        if plan_id not in services.get("plans", {}):
            raise Missing(plan_id)
        kept = {k: v for k, v in services["plans"].items() if k != plan_id}
        return await self._change(node, lambda s: {**s, "plans": kept}, "plan_removed", who)

    async def configure(self, node: AccountNode, data: dict, who: str) -> Doc:
        """Set the billing mode and the account-wide overrides."""
        change: dict[str, Any] = {}
        if "billing_mode" in data:
            change["billing_mode"] = plans.checked_mode(data["billing_mode"])
        if "overrides" in data:
            if not isinstance(data["overrides"], dict):
                raise Invalid.field("overrides", "type", "Value did not match type(s): object")
            change["overrides"] = data["overrides"]
            async with self.store.read() as tx:
                _, held = await plans.assigned(tx, node.id)
            plans.checked_plan(invoices.merged(held, data["overrides"]), "overrides")
        return await self._change(node, lambda s: merge_patch(s, change), "services_changed", who)

    async def _change(self, node: AccountNode, edit, reason: str, who: str) -> Doc:
        """Edit the account's services document (a concurrent edit from another process is a 409), then record."""
        try:
            async with self.store.write() as tx:
                services = plans.services_doc(node.id, await tx.find(node.id, plans.SERVICES_ID))
                saved = await tx.save(edit(services))
        except Conflict as exc:
            raise Conflicting() from exc
        await self.record(node, reason, who)
        return saved

    async def record(self, node: AccountNode, reason: str, who: str, now: int | None = None) -> None:
        """Audit what changed for the account and for every account above it whose plan has cascade items."""
        now = gregorian_now() if now is None else now
        for account, cascading_only in [(node, False), *((a, True) for a in await self.directory.ancestors(node))]:
            body = await self._record_one(account, reason, who, now, cascading_only)
            if body is not None and body["recurring_after"] > body["recurring_before"]:
                await _tell_added(self.store, account.id, body)

    async def _record_one(
        self, node: AccountNode, reason: str, who: str, now: int, cascading_only: bool = False
    ) -> dict | None:
        """Record one account's change (the audit body, None when nothing changed); an account above it changed only
        through its cascade items, so one whose plan has none is left alone."""
        async with self.store.write() as tx:
            services, held = await plans.assigned(tx, node.id)
            plan = invoices.merged(held, services.get("overrides"))
            if cascading_only and not cascades(plan):
                return None
            old_quantities, old_lines = await rows.lock_state(tx, node.id, now)
            quantities, lines = await self._priced(node, plan)
            if quantities == old_quantities and lines == old_lines and reason == "quantities":
                return None
            body = _audit_body(old_quantities, old_lines, quantities, lines)
            if body["changes"] or reason != "quantities":
                await rows.add_audit(tx, rows.Audit(node.id, _audit_id(), now, reason, who, body))
            await rows.set_state(tx, node.id, quantities, lines, now)
            return body

    async def _priced(self, node: AccountNode, plan: dict) -> tuple[dict, dict]:
        """The account's quantities and its lines by `category.item`, counted while its state row is locked."""
        counted = await count(self.store, node, await self.classifiers.current(), cascades(plan))
        lines = invoices.lines(plan, counted.own, counted.cascade)
        return counted.own, {f"{ln.category}.{ln.item}": _stored(ln) for ln in lines}

    async def audit(self, node: AccountNode, span: tuple[int, int], limit: int | None = None) -> list[rows.Audit]:
        async with self.store.read() as tx:
            return await rows.audits(tx, node.id, span, limit)


async def _tell_added(store: Store, account_id: str, body: dict) -> None:
    """The `service_added` email (the account's admins): what it holds now costs more each month."""
    changes = body["changes"]
    summary = ", ".join(f"{key} {c['before']} to {c['after']}" for key, c in list(changes.items())[:20]) or "plans"
    total = str(ledgers.dollars(body["recurring_after"]))
    await sending.send(store, account_id, "service_added", {"summary": summary, "recurring_total": total})


def cascades(plan: dict) -> bool:
    """Whether any item of the merged plan counts the account's whole tree."""
    return any(item.get("cascade") for items in plan.values() for item in items.values())


def _audit_id() -> str:
    """Time-ordered (nanoseconds, then random), so changes within one second list in the order they were made."""
    return f"{time.time_ns():016x}{new_id()[:16]}"


def _stored(line: Line) -> dict:
    return {
        "quantity": line.quantity,
        "total": line.total,
        "activation_charge": line.activation_charge,
        "prorate": line.prorate_additions,
        "refund": line.prorate_removals,
    }


def _audit_body(old_q: dict, old_lines: dict, new_q: dict, new_lines: dict) -> dict:
    """What changed: quantities per `category.item`, the recurring total before and after, the monthly increase that
    prorates, the monthly decrease refunded (items with `prorate.removals`) and the activation charges (units)."""
    changes = {}
    for category in sorted(set(old_q) | set(new_q)):
        items_old, items_new = old_q.get(category, {}), new_q.get(category, {})
        for item in sorted(set(items_old) | set(items_new)):
            if items_old.get(item, 0) != items_new.get(item, 0):
                changes[f"{category}.{item}"] = {"before": items_old.get(item, 0), "after": items_new.get(item, 0)}
    prorated, activation, refunded = 0, 0, 0
    for key, line in new_lines.items():
        before = old_lines.get(key, {"quantity": 0, "total": 0})
        if line["prorate"]:
            prorated += max(0, line["total"] - before["total"])
        activation += max(0, line["quantity"] - before["quantity"]) * line["activation_charge"]
    for key, line in old_lines.items():
        if line.get("refund"):
            refunded += max(0, line["total"] - new_lines.get(key, {"total": 0})["total"])
    return {
        "changes": changes,
        "recurring_before": sum(line["total"] for line in old_lines.values()),
        "recurring_after": sum(line["total"] for line in new_lines.values()),
        "prorated_units": prorated,
        "refunded_units": refunded,
        "activation_units": activation,
    }


def plan_view(doc: Doc) -> Doc:
    return public(doc)

"""Regular expressions inside account documents: checked on save, so only what RE2 runs is ever stored.

Where they are: callflow `patterns`, the keys of `dial_plan` (accounts, users, devices), menu `hunt_allow` and
`hunt_deny`, and the `patterns` of `metaflows`/`metaflow`. A refused one is a 400 validation error on its field
path with the rule `regex`. How many there may be is bounded too: per document by the schemas, per account here.
"""

from __future__ import annotations

from typing import Any

from cloudpbx import regex
from cloudpbx.errors import Invalid
from cloudpbx.store import Doc, Tx, keys

PATTERNS_MARKER = "callflow_patterns"  # the document whose revision moves with every change to the account's patterns
MARKER_TYPE = "callflow_patterns"
MAX_PER_ACCOUNT = 10_000  # callflow patterns in one account


def regex_errors(path: str, pattern: Any) -> dict:
    """The validation error of one pattern at `path`, or none."""
    reason = regex.problem(pattern)
    if reason is None:
        return {}
    return {path: {"regex": {"message": reason, "value": pattern}}}


def _keyed_errors(path: str, rules: Any) -> dict:
    """Errors of an object whose keys are patterns (a dial plan, metaflow patterns)."""
    errors: dict = {}
    if isinstance(rules, dict):
        for pattern in rules:
            errors.update(regex_errors(f"{path}.{pattern.replace('.', '%2E')}", pattern))
    return errors


def document_errors(doc: Doc) -> dict:
    """Errors of the patterns that any account document may carry: dial plan and metaflow patterns."""
    errors = _keyed_errors("dial_plan", doc.get("dial_plan"))
    for name in ("metaflows", "metaflow"):
        if isinstance(doc.get(name), dict):
            errors.update(_keyed_errors(f"{name}.patterns", doc[name].get("patterns")))
    return errors


def check_document(doc: Doc) -> None:
    errors = document_errors(doc)
    if errors:
        raise Invalid(errors)


async def check_menu(tx: Tx, account_id: str, doc: Doc, old: Doc | None) -> None:
    errors = document_errors(doc)
    for name in ("hunt_allow", "hunt_deny"):
        if name in doc:
            errors.update(regex_errors(name, doc[name]))
    if errors:
        raise Invalid(errors)


def callflow_errors(doc: Doc) -> dict:
    errors = document_errors(doc)
    for i, pattern in enumerate(doc.get("patterns", [])):
        errors.update(regex_errors(f"patterns.{i}", pattern))
    return errors


async def count_and_mark(tx: Tx, account_id: str, doc: Doc, old: Doc | None) -> None:
    """A saved callflow: the account stays within MAX_PER_ACCOUNT patterns, and a change moves the marker."""
    new, held = set(doc.get("patterns", [])), set(old.get("patterns", [])) if old else set()
    if new == held:
        return
    if len(new) > len(held):
        total = await tx.count_keys(account_id, keys.CF_PATTERN) - len(held) + len(new)
        if total > MAX_PER_ACCOUNT:
            raise Invalid.field(
                "patterns",
                "maxItems",
                f"An account may hold at most {MAX_PER_ACCOUNT} callflow patterns; this one would hold {total}",
                target=MAX_PER_ACCOUNT,
            )
    await tx.touch(account_id, PATTERNS_MARKER, MARKER_TYPE)


async def released(tx: Tx, account_id: str, doc: Doc) -> None:
    """A deleted callflow: if it held patterns, the marker moves."""
    if doc.get("patterns"):
        await tx.touch(account_id, PATTERNS_MARKER, MARKER_TYPE)

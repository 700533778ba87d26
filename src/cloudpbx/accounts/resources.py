"""Carriers (KAZOO's resources): the platform's global ones in the system partition (KAZOO's `offnet` database),
an account's own (bring your own carrier) in the account.

Their `rules`, `cid_rules`, `rules_test` and classifier `regex` are tenant regular expressions: checked on save
with the bounds of callflow patterns, so only what RE2 runs is stored. Every save or delete gives the partition's
marker document a new revision in the same transaction, so routing in every process sharing the database sees
the change at its next decision (one point read of the marker). The same transaction renews one platform-wide
marker too, and the partition's marker holds a `carriers` key, so the inbound gateway index learns with one point
read that some carrier changed and finds every partition holding carriers by one key range.
"""

from __future__ import annotations

from cloudpbx.accounts.documents import Kind
from cloudpbx.accounts.patterns import regex_errors
from cloudpbx.errors import Invalid
from cloudpbx.store import SYSTEM, Doc, Store, Tx, keys

TYPE = "resource"
MARKER = "resources_marker"  # the document whose revision moves with every change to a partition's carriers
MARKER_TYPE = "resources_marker"
ANY_MARKER = "resources_marker_any"  # in the system partition: moves with a change to any partition's carriers
RULE_LISTS = ("rules", "cid_rules", "rules_test")


def rule_errors(doc: Doc) -> dict:
    """Validation errors of every regular expression a carrier holds, by field path."""
    errors: dict = {}
    for name in RULE_LISTS:
        for i, pattern in enumerate(doc.get(name) or []):
            errors.update(regex_errors(f"{name}.{i}", pattern))
    for cls, settings in (doc.get("classifiers") or {}).items():
        if isinstance(settings, dict) and "regex" in settings:
            errors.update(regex_errors(f"classifiers.{cls.replace('.', '%2E')}.regex", settings["regex"]))
    return errors


async def _prepare(tx: Tx, account_id: str, doc: Doc, old: Doc | None) -> None:
    errors = rule_errors(doc)
    if errors:
        raise Invalid(errors)
    await _changed(tx, account_id)


async def _released(tx: Tx, account_id: str, doc: Doc) -> None:
    await _changed(tx, account_id)


async def _changed(tx: Tx, account_id: str) -> None:
    """Renew the partition's marker and the platform-wide one; the partition's marker names it as one holding
    carriers. Every carrier write of the platform waits on the one row of the platform-wide marker: carrier
    changes are rare, and it keeps the inbound index's view of all partitions one point read."""
    await tx.touch(account_id, MARKER, MARKER_TYPE)
    await tx.set_keys(account_id, MARKER, [keys.carriers(account_id)])
    await tx.touch(SYSTEM, ANY_MARKER, MARKER_TYPE)


RESOURCE = Kind(
    name="resources",
    type=TYPE,
    prepare=_prepare,
    on_delete=_released,
    summary=("id", "name", "enabled", "weight_cost", "emergency", "flags", "classifiers", "gateway_strategy"),
)


class Resources:
    """What routing reads of a partition's carriers: the marker's revision, then the documents."""

    def __init__(self, store: Store):
        self.store = store

    async def revision(self, partition: str) -> str | None:
        """Changes whenever any carrier of the partition changes: one point read."""
        row = await self.store.find_row(partition, MARKER)
        return row.rev if row else None

    async def any_revision(self) -> str | None:
        """Changes whenever any carrier of any partition changes: one point read."""
        row = await self.store.find_row(SYSTEM, ANY_MARKER)
        return row.rev if row else None

    async def load_all(self) -> dict[str, list[Doc]]:
        """Every partition holding carriers → its carriers (enabled or not), in one read transaction."""
        async with self.store.read() as tx:
            partitions = await tx.keys_with_prefix(keys.CARRIERS, "")
            return {partition: await tx.list(partition, TYPE) for partition in partitions}

    async def load(self, partition: str) -> list[Doc]:
        """Every carrier of the partition (enabled or not), in id order."""
        async with self.store.read() as tx:
            return await tx.list(partition, TYPE)

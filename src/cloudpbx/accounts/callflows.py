"""Callflows as routing reads them: by number, by id (decoded once per revision, shared), and an account's
patterns with the revision of its pattern marker, which every change to a pattern-holding callflow renews."""

from __future__ import annotations

from cloudpbx.accounts.patterns import PATTERNS_MARKER
from cloudpbx.store import Doc, Store, keys, load_row

NO_MATCH = "no_match"  # the number of an account's catch-all callflow
_DOCS_KEPT = 10_000  # callflow documents kept decoded
_PAGE = 500  # pattern keys read per query, so no read holds the loop for long


def numbers(doc: Doc) -> list[str]:
    """The numbers a callflow answers (E.164 or extensions, and `no_match`)."""
    return doc.get("numbers") or []


def patterns(doc: Doc) -> list[str]:
    """The regular expressions a callflow answers."""
    return doc.get("patterns") or []


class Callflows:
    def __init__(self, store: Store):
        self.store = store
        self._docs: dict[tuple[str, str], tuple[str, Doc]] = {}  # (account, callflow id) → (revision, document)

    async def by_number(self, account_id: str, number: str) -> str | None:
        """The id of the callflow holding `number` exactly as given."""
        held = await self.store.lookup(*keys.cf_number(account_id, number))
        return held[1] if held else None

    async def get(self, account_id: str, doc_id: str) -> Doc | None:
        """A callflow by id, or None; readers share the document and must not change it."""
        row = await self.store.find_row(account_id, doc_id)
        if row is None:
            return None
        hit = self._docs.get((account_id, doc_id))
        if hit is None or hit[0] != row.rev:
            if len(self._docs) >= _DOCS_KEPT:
                self._docs.clear()
            hit = self._docs[(account_id, doc_id)] = (row.rev, load_row(row))
        return hit[1] if hit[1].get("pvt_type") == "callflow" else None

    async def patterns_revision(self, account_id: str) -> str | None:
        """Changes whenever any pattern of the account changes: one point read."""
        row = await self.store.find_row(account_id, PATTERNS_MARKER)
        return row.rev if row else None

    async def patterns(self, account_id: str) -> list[tuple[str, str]]:
        """(pattern, callflow id) of every pattern of the account, in pattern order."""
        held: list[tuple[str, str]] = []
        while True:
            async with self.store.read() as tx:
                page = await tx.keys(account_id, keys.CF_PATTERN, after=held[-1][0] if held else None, limit=_PAGE)
            held.extend(page)
            if len(page) < _PAGE:
                return [(keys.unscoped(key), doc_id) for key, doc_id in held]

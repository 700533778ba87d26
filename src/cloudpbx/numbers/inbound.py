"""Numbers as calls in from carriers find them: which account a dialled number reaches, and the caller ID the
number's features make of what the carrier sent.

A number is in service for inbound calls when an account holds it and its state is one KAZOO routes inbound
(`registry.ROUTABLE`: in_service, available inside its account, port_in). Its features apply as stored, with no
outside lookup: `prepend` puts its name and number before the caller's; `cnam.inbound_lookup` names the caller
after the outbound CNAM (`cnam.display_name`) the calling number has on this platform, when it is one of ours
and has one (else the carrier's name stays).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cloudpbx.numbers.classifiers import is_did, normalize
from cloudpbx.numbers.registry import ROUTABLE
from cloudpbx.store import SYSTEM, Doc, Store, keys

CNAM_MAX = 15  # characters of a CNAM name, as the schema bounds `cnam.display_name`


@dataclass(frozen=True)
class InboundNumber:
    """A number on the platform a carrier call may reach: E.164, its holder and its document."""

    e164: str
    account_id: str
    doc: Doc


class InboundNumbers:
    def __init__(self, store: Store):
        self.store = store

    async def find(self, candidates: Iterable[str]) -> InboundNumber | None:
        """The first candidate (a Request-URI or To user, in any of the forms carriers send) that is a number in
        service on the platform, normalised to E.164."""
        for candidate in dict.fromkeys(normalize(c) for c in candidates if c):
            if not is_did(candidate):
                continue
            found = await self._in_service(candidate)
            if found is not None:
                return found
        return None

    async def _in_service(self, e164: str) -> InboundNumber | None:
        held = await self.store.lookup(*keys.number(e164))
        if held is None or held[0] == SYSTEM:
            return None
        doc = await self.store.find(SYSTEM, e164)
        if doc is None or doc.get("pvt_assigned_to") != held[0] or doc.get("pvt_state") not in ROUTABLE:
            return None
        return InboundNumber(e164, held[0], doc)

    async def caller(self, number: InboundNumber, name: str, caller_number: str) -> tuple[str, str]:
        """The caller's (name, number) after the dialled number's features."""
        if _cnam_lookup(number.doc):
            name = await self._cnam_name(caller_number) or name
        prepend = number.doc.get("prepend")
        if isinstance(prepend, dict) and prepend.get("enabled"):
            name = f"{prepend.get('name') or ''}{name}"
            caller_number = f"{prepend.get('number') or ''}{caller_number}"
        return name, caller_number

    async def _cnam_name(self, caller_number: str) -> str:
        """The outbound CNAM name the calling number holds on this platform, "" when it holds none."""
        e164 = normalize(caller_number)
        if not is_did(e164):
            return ""
        doc = await self.store.find(SYSTEM, e164)
        cnam = doc.get("cnam") if doc and doc.get("pvt_assigned_to") else None
        name = cnam.get("display_name") if isinstance(cnam, dict) else None
        return name[:CNAM_MAX] if isinstance(name, str) else ""


def _cnam_lookup(doc: Doc) -> bool:
    cnam = doc.get("cnam")
    return isinstance(cnam, dict) and cnam.get("inbound_lookup") is True

"""Who is registered where: the registrar writes contacts, the API lists them."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass


@dataclass
class Registration:
    account_id: str
    device_id: str
    username: str
    realm: str
    contact: str
    source: str  # ip:port the REGISTER came from
    user_agent: str
    expires_at: float
    call_id: str = ""

    def view(self) -> dict:
        out = asdict(self)
        out["expires"] = max(0, int(self.expires_at - time.time()))
        out.pop("expires_at")
        return out


class Registrations:
    def __init__(self) -> None:
        self._by_account: dict[str, dict[tuple[str, str], Registration]] = {}

    def add(self, reg: Registration) -> None:
        self._by_account.setdefault(reg.account_id, {})[(reg.device_id, reg.contact)] = reg

    def remove(self, account_id: str, device_id: str, contact: str | None = None) -> None:
        regs = self._by_account.get(account_id, {})
        for key in [k for k in regs if k[0] == device_id and (contact is None or k[1] == contact)]:
            del regs[key]

    def flush(self, account_id: str, username: str | None = None) -> int:
        regs = self._by_account.get(account_id, {})
        gone = [k for k, r in regs.items() if username is None or r.username == username]
        for key in gone:
            del regs[key]
        return len(gone)

    def list(self, account_id: str) -> list[Registration]:
        now = time.time()
        regs = self._by_account.get(account_id, {})
        for key in [k for k, r in regs.items() if r.expires_at <= now]:
            del regs[key]
        return list(regs.values())

    def registered_ids(self, account_id: str) -> set[str]:
        return {r.device_id for r in self.list(account_id)}

"""Who is registered where: the registrar writes contacts, the API lists them, the B2BUA finds a device's."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass


@dataclass
class Registration:
    account_id: str
    device_id: str
    username: str
    realm: str
    contact: str  # the Contact URI the phone registered: the Request-URI of calls to it
    source: str  # ip:port the REGISTER came from
    user_agent: str
    expires_at: float
    call_id: str = ""
    cseq: int = 0
    transport: str = "udp"  # how to reach the phone: udp or tcp
    reach: str = ""  # ip:port requests to the phone go to: the source when behind NAT or on a connection

    def view(self) -> dict:
        out = asdict(self)
        out["expires"] = self.expires_in
        del out["expires_at"], out["cseq"]
        return out

    @property
    def expires_in(self) -> int:
        return max(0, round(self.expires_at - time.time()))


class Registrations:
    """In memory, per account, per device, per contact."""

    def __init__(self) -> None:
        self._by_account: dict[str, dict[str, dict[str, Registration]]] = {}

    def add(self, reg: Registration) -> None:
        self._by_account.setdefault(reg.account_id, {}).setdefault(reg.device_id, {})[reg.contact] = reg

    def remove(self, account_id: str, device_id: str, contact: str | None = None) -> None:
        devices = self._by_account.get(account_id, {})
        if contact is None:
            devices.pop(device_id, None)
            return
        contacts = devices.get(device_id, {})
        contacts.pop(contact, None)
        if not contacts:
            devices.pop(device_id, None)

    def flush(self, account_id: str, username: str | None = None) -> int:
        devices = self._by_account.get(account_id, {})
        gone = 0
        for device_id, contacts in list(devices.items()):
            for contact, reg in list(contacts.items()):
                if username is None or reg.username.lower() == username.lower():
                    del contacts[contact]
                    gone += 1
            if not contacts:
                del devices[device_id]
        return gone

    def for_device(self, account_id: str, device_id: str) -> list[Registration]:
        """The device's live contacts, freshest first (where the B2BUA rings it)."""
        contacts = self._by_account.get(account_id, {}).get(device_id)
        if not contacts:
            return []
        _drop_expired(contacts, time.time())
        if not contacts:
            del self._by_account[account_id][device_id]
        return sorted(contacts.values(), key=lambda r: r.expires_at, reverse=True)

    def list(self, account_id: str) -> list[Registration]:
        devices = self._by_account.get(account_id, {})
        self._sweep_account(devices, time.time())
        return [reg for contacts in devices.values() for reg in contacts.values()]

    def registered_ids(self, account_id: str) -> set[str]:
        return {r.device_id for r in self.list(account_id)}

    def sweep(self) -> None:
        """Forget every expired contact (run now and then, so that silent phones do not pile up)."""
        now = time.time()
        for account_id, devices in list(self._by_account.items()):
            self._sweep_account(devices, now)
            if not devices:
                del self._by_account[account_id]

    @staticmethod
    def _sweep_account(devices: dict[str, dict[str, Registration]], now: float) -> None:
        for device_id, contacts in list(devices.items()):
            _drop_expired(contacts, now)
            if not contacts:
                del devices[device_id]


def _drop_expired(contacts: dict[str, Registration], now: float) -> None:
    for contact in [c for c, r in contacts.items() if r.expires_at <= now]:
        del contacts[contact]

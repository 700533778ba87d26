"""The registrar (RFC 3261 10.3): authenticated REGISTERs bind, refresh and remove a device's contacts.

Bindings live in `state.registrations`, keyed by account, device and contact URI. Each remembers where the phone
is really reached: its source address when it registered over a connection, asked for `rport`, or gave a Contact
nobody can route to (a private address, a name); the Contact as given otherwise.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import time
from email.utils import formatdate

from cloudpbx.accounts import devices
from cloudpbx.sip.headers import NameAddr
from cloudpbx.sip.message import Request, Response
from cloudpbx.sip.transaction import ServerTransaction
from cloudpbx.sip.transport import Peer
from cloudpbx.state.registrations import Registration, Registrations
from cloudpbx.telephony.auth import Authenticator, Identity

DEFAULT_EXPIRES = 300
MAX_CONTACTS = 10  # per device: the oldest binding goes when another one arrives
SWEEP_S = 30.0


class Refused(Exception):
    def __init__(self, status: int, reason: str | None = None):
        super().__init__(status, reason)
        self.status, self.reason = status, reason


class Registrar:
    def __init__(
        self, auth: Authenticator, registrations: Registrations, *, min_expires: int = 60, max_expires: int = 3600
    ):
        self.auth = auth
        self.registrations = registrations
        self.min_expires, self.max_expires = min_expires, max_expires
        self._sweeper: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self._sweeper = asyncio.get_running_loop().call_later(SWEEP_S, self._sweep)

    def stop(self) -> None:
        if self._sweeper:
            self._sweeper.cancel()

    def _sweep(self) -> None:
        self.registrations.sweep()
        self.start()

    async def handle(self, request: Request, tx: ServerTransaction) -> None:
        if not request.to.uri.is_sip:
            tx.reply(416)
            return
        identity = await self.auth.authenticate_request(request, tx.peer)
        if isinstance(identity, Response):
            tx.respond(identity)
            return
        try:
            self._update(request, identity, tx.peer)
        except Refused as refused:
            tx.reply(refused.status, refused.reason)
            return
        current = self.registrations.for_device(identity.account.id, identity.device_id)
        headers = [("Contact", f"<{reg.contact}>;expires={reg.expires_in}") for reg in current]
        tx.reply(200, headers=headers + [("Date", http_date())])

    def _update(self, request: Request, identity: Identity, peer: Peer) -> None:
        contacts = request.contacts
        account_id, device_id = identity.account.id, identity.device_id
        if contacts is None:  # Contact: *
            if request.expires != 0:
                raise Refused(400, "Contact * needs Expires: 0")
            self.registrations.remove(account_id, device_id)
            return
        existing = {reg.contact: reg for reg in self.registrations.for_device(account_id, device_id)}
        default = request.expires
        if default is None:
            default = devices.sip_expires(identity.device) or DEFAULT_EXPIRES
        for contact in contacts:
            if not contact.uri.is_sip:
                raise Refused(400, "Contact must be a SIP URI")
            _check_order(existing.get(str(contact.uri)), request)
        for contact in contacts:
            expires = self._expires(contact, default)
            if expires == 0:
                self.registrations.remove(account_id, device_id, str(contact.uri))
            else:
                self.registrations.add(self._binding(request, identity, peer, contact, expires))
        self._cap(account_id, device_id)

    def _expires(self, contact: NameAddr, default: int) -> int:
        raw = contact.params.get("expires")
        expires = int(raw) if raw is not None else default
        if expires == 0:
            return 0
        return min(max(expires, self.min_expires), self.max_expires)

    def _binding(
        self, request: Request, identity: Identity, peer: Peer, contact: NameAddr, expires: int
    ) -> Registration:
        uri = contact.uri
        via_source = peer.transport != "udp" or "rport" in request.via.params or not _routable(uri.bare_host)
        reach = str(peer) if via_source else f"{uri.host}:{uri.port or 5060}"
        return Registration(
            account_id=identity.account.id,
            device_id=identity.device_id,
            username=identity.username,
            realm=identity.realm,
            contact=str(uri),
            source=str(peer),
            user_agent=request.get("user-agent") or "",
            expires_at=time.time() + expires,
            call_id=request.call_id,
            cseq=request.cseq.number,
            transport=peer.transport if via_source else uri.transport,
            reach=reach,
        )

    def _cap(self, account_id: str, device_id: str) -> None:
        current = self.registrations.for_device(account_id, device_id)
        for reg in current[MAX_CONTACTS:]:
            self.registrations.remove(account_id, device_id, reg.contact)


def _check_order(existing: Registration | None, request: Request) -> None:
    """A REGISTER older than the one that made the binding (same Call-ID, lower CSeq) must not undo it."""
    if existing and existing.call_id == request.call_id and request.cseq.number <= existing.cseq:
        raise Refused(500, "Out Of Order Request")


def http_date() -> str:
    """The Date header's value; formatted once a second, since registrations come by the thousand."""
    return _formatted(int(time.time()))


@functools.lru_cache(maxsize=2)
def _formatted(second: int) -> str:
    return formatdate(second, usegmt=True)


def _routable(host: str) -> bool:
    """A public IP literal; private, loopback, link-local, shared (CGNAT) addresses and names are not."""
    try:
        return ipaddress.ip_address(host).is_global
    except ValueError:
        return False

"""Who is this phone? Digest-authenticates a request against the device its (realm, username) names.

An INVITE without credentials whose caller's domain is no account's realm (not from a phone of ours, and not from
a carrier, which the B2BUA recognised before) gets 403, counted as a failure of its address, never a challenge.

The realm picks the account (`Accounts.find_by_realm`), the username the device (`Devices.by_sip`), and
the device's SIP password checks the answer. Lookups go through two-second caches, so a phone that registers
every minute costs no database read at all most of the time. A source address that fails too often is refused
for a while without looking at anything.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

from cloudpbx.accounts import devices
from cloudpbx.accounts.accounts import Accounts
from cloudpbx.accounts.devices import Devices
from cloudpbx.accounts.documents import enabled
from cloudpbx.accounts.tree import AccountDirectory, AccountNode
from cloudpbx.callflow.caller_id import CallerId
from cloudpbx.media.codecs import CodecPolicy
from cloudpbx.sip.digest import OK, REPLAYED, STALE, Digest
from cloudpbx.sip.headers import HeaderError, parse_auth
from cloudpbx.sip.message import Request, Response
from cloudpbx.sip.transaction import make_response
from cloudpbx.sip.transport import Peer
from cloudpbx.store import Doc

CACHE_TTL_S = 2.0
CACHE_MAX = 100_000


@dataclass(frozen=True)
class Identity:
    """An authenticated device: its account (enabled, with enabled ancestors) and its document."""

    account: AccountNode
    device: Doc
    username: str
    realm: str

    @property
    def device_id(self) -> str:
        return self.device["_id"]

    # what an inbound call asks of its caller (`telephony.identity.CallerIdentity`) --------------------------------

    def destination(self, dialed: str) -> str:
        return dialed

    def presented(self, request: Request) -> CallerId:
        """What the phone sent; the callflow replaces it with the device's configured caller ID."""
        sender = request.from_
        return CallerId(sender.display or "", sender.uri.user or "")

    def codecs(self) -> CodecPolicy:
        return CodecPolicy.from_media(self.device.get("media"))

    def channel_vars(self) -> dict[str, object]:
        return {}

    async def admit(self, call: object) -> bool:
        """A device's calls are not trunk calls: nothing to ask."""
        return True

    async def finish(self) -> None:
        """Nothing was taken."""


class FailureThrottle:
    """After `limit` failures within `window_s` seconds a source address is refused for `block_s` seconds."""

    def __init__(self, limit: int = 10, window_s: float = 60.0, block_s: float = 60.0):
        self.limit, self.window_s, self.block_s = limit, window_s, block_s
        self._failures: dict[str, deque[float]] = {}
        self._blocked: dict[str, float] = {}

    def blocked(self, host: str) -> bool:
        until = self._blocked.get(host)
        if until is None:
            return False
        if until > time.monotonic():
            return True
        del self._blocked[host]
        return False

    def failed(self, host: str) -> None:
        now = time.monotonic()
        if len(self._failures) + len(self._blocked) > CACHE_MAX:
            self._prune(now)
        failures = self._failures.setdefault(host, deque())
        failures.append(now)
        while failures[0] < now - self.window_s:
            failures.popleft()
        if len(failures) >= self.limit:
            self._blocked[host] = now + self.block_s
            del self._failures[host]

    def _prune(self, now: float) -> None:
        for host in [h for h, f in self._failures.items() if f[-1] < now - self.window_s]:
            del self._failures[host]
        for host in [h for h, until in self._blocked.items() if until <= now]:
            del self._blocked[host]


class _Cache:
    """A dict whose entries live CACHE_TTL_S seconds."""

    def __init__(self):
        self._entries: dict = {}

    def get(self, key):
        hit = self._entries.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit
        return None

    def put(self, key, value) -> None:
        if len(self._entries) > CACHE_MAX:
            self._entries.clear()
        self._entries[key] = (time.monotonic() + CACHE_TTL_S, value)


class Authenticator:
    """Digest-challenges requests and resolves the device behind the answer; REGISTER and INVITE share it."""

    def __init__(
        self,
        accounts: Accounts,
        devices: Devices,
        directory: AccountDirectory,
        digest: Digest,
        throttle: FailureThrottle,
    ):
        self.accounts = accounts
        self.devices = devices
        self.directory = directory
        self.digest = digest
        self.throttle = throttle
        self._realms = _Cache()
        self._devices = _Cache()

    async def authenticate_request(self, request: Request, peer: Peer, *, proxy: bool = False) -> Identity | Response:
        """The device that signed `request`, or the response to send instead: a challenge (401, or 407 with
        `proxy`, as for INVITE) or 403."""
        if self.throttle.blocked(peer.host):
            return make_response(request, 403, "Too Many Failed Attempts")
        credentials = _credentials(request, "proxy-authorization" if proxy else "authorization")
        if credentials is None:
            realm = _realm_hint(request)
            if proxy and await self._account_id(realm) is None:  # no device could answer: not worth a challenge
                return self._failed(request, peer)
            return self.challenge(request, realm, proxy=proxy)
        found = await self._device(credentials)
        if found is None:
            return self._failed(request, peer)
        account, device = found
        password = devices.sip_password(device)
        verdict = self.digest.verify(credentials, request.method, password) if password else None
        if verdict == STALE:
            return self.challenge(request, credentials["realm"], proxy=proxy, stale=True)
        if verdict == REPLAYED:  # counted as a failure, but a confused phone may still answer a new nonce
            self.throttle.failed(peer.host)
            return self.challenge(request, credentials["realm"], proxy=proxy)
        if verdict != OK:
            return self._failed(request, peer)
        if not enabled(device) or not await self._enabled(account):
            return make_response(request, 403, "Disabled")
        return Identity(account, device, credentials["username"], credentials["realm"])

    def challenge(self, request: Request, realm: str, *, proxy: bool = False, stale: bool = False) -> Response:
        status, header = (407, "Proxy-Authenticate") if proxy else (401, "WWW-Authenticate")
        response = make_response(request, status)
        for value in self.digest.challenges(realm, stale=stale):
            response.add(header, value)
        return response

    def _failed(self, request: Request, peer: Peer) -> Response:
        self.throttle.failed(peer.host)
        return make_response(request, 403)

    async def _device(self, credentials: dict[str, str]) -> tuple[AccountNode, Doc] | None:
        realm, username = credentials.get("realm", "").lower(), credentials.get("username", "")
        if not realm or not username or not credentials.get("response"):
            return None
        account_id = await self._account_id(realm)
        account = await self.directory.get(account_id) if account_id else None
        if account is None:
            return None
        key = (account.id, username.lower())
        hit = self._devices.get(key)
        if hit is None:
            device = await self.devices.by_sip(account.id, username)
            self._devices.put(key, device)
        else:
            device = hit[1]
        return (account, device) if device is not None else None

    async def _account_id(self, realm: str) -> str | None:
        hit = self._realms.get(realm)
        if hit is not None:
            return hit[1]
        account_id = await self.accounts.find_by_realm(realm)
        self._realms.put(realm, account_id)
        return account_id

    async def _enabled(self, account: AccountNode) -> bool:
        """The account and every ancestor are enabled."""
        if not account.enabled:
            return False
        for ancestor_id in account.tree:
            ancestor = await self.directory.get(ancestor_id)
            if ancestor is not None and not ancestor.enabled:
                return False
        return True


def _credentials(request: Request, header: str) -> dict[str, str] | None:
    for value in request.get_all(header):
        try:
            scheme, params = parse_auth(value)
        except HeaderError:
            continue
        if scheme == "digest":
            return params
    return None


def _realm_hint(request: Request) -> str:
    """The realm to challenge with: the registered domain (To), the caller's domain (From), else the
    Request-URI's."""
    party = request.to if request.method == "REGISTER" else request.from_
    for uri in (party.uri, request.ruri):
        if uri.is_sip:
            return uri.host.lower()
    return "cloudpbx"

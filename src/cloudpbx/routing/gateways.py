"""Which carriers a SIP source address belongs to: the gateway index that recognises calls in from carriers.

Every enabled gateway of every enabled carrier, global or an account's own, is indexed by the IP addresses of its
`server` (an IP literal as is, a host name resolved when the index is built, in bounded time). The gateway's port
counts too when it is not 5060: the schema fills 5060 in when a gateway names none, and carriers send from other
ports than the one they listen on (over TCP always), so 5060 means any source port.

The index is built again when the platform-wide carrier marker (`accounts.resources`) moves: each lookup reads it
by primary key, so a carrier created, changed, disabled or deleted through any process sharing the database is
seen at the next call. An index holding names is also built again in the background every `RESOLVED_TTL_S`, so
a carrier's DNS change is followed while calls go on with the index they have.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import math
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass

from cloudpbx.accounts.resources import Resources
from cloudpbx.routing.carriers import DEFAULT_PORT
from cloudpbx.store import SYSTEM, Doc

log = logging.getLogger(__name__)

RESOLVE_TIMEOUT_S = 2.0  # a name that does not resolve in time is left out of this build
RESOLVED_TTL_S = 300.0  # how long a resolved name is trusted
FAILED_TTL_S = 30.0  # how long a name that did not resolve is not asked again


@dataclass(frozen=True, slots=True)
class CarrierSource:
    """A carrier that sends from an address: its id and name, and the partition it lives in (SYSTEM for the
    platform's global carriers, else the account that brought it)."""

    carrier_id: str
    name: str
    partition: str

    @property
    def is_global(self) -> bool:
        return self.partition == SYSTEM


@dataclass(frozen=True, slots=True)
class _Entry:
    port: int | None  # None: any source port
    source: CarrierSource


def canonical(host: str) -> str | None:
    """An IP address in one spelling (IPv6 without brackets, compressed; IPv4-mapped as IPv4), None for a name."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def _enabled(doc: dict) -> bool:
    return doc.get("enabled", True) is not False


def _gateways(doc: Doc) -> Iterable[tuple[str, int | None]]:
    """(server, port or None) of each enabled gateway of an enabled carrier."""
    if not _enabled(doc):
        return
    for gateway in doc.get("gateways") or []:
        if isinstance(gateway, dict) and _enabled(gateway) and isinstance(gateway.get("server"), str):
            port = gateway.get("port", DEFAULT_PORT)
            yield gateway["server"], None if port == DEFAULT_PORT else port


class Resolver:
    """Host names to addresses, bounded in time and cached, so a build never waits long on DNS."""

    def __init__(self, timeout_s: float = RESOLVE_TIMEOUT_S):
        self.timeout_s = timeout_s
        self._known: dict[str, tuple[float, tuple[str, ...]]] = {}  # name → (valid until, addresses)

    async def addresses(self, names: Iterable[str]) -> dict[str, tuple[str, ...]]:
        wanted = sorted(set(names))
        now = time.monotonic()
        stale = [name for name in wanted if self._known.get(name, (0.0, ()))[0] <= now]
        for name, found in zip(stale, await asyncio.gather(*map(self._resolve, stale)), strict=True):
            self._known[name] = (now + (RESOLVED_TTL_S if found else FAILED_TTL_S), found)
        return {name: self._known[name][1] for name in wanted}

    async def _resolve(self, name: str) -> tuple[str, ...]:
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(loop.getaddrinfo(name, None, type=socket.SOCK_DGRAM), self.timeout_s)
        except (OSError, TimeoutError) as exc:
            log.warning("carrier gateway %s does not resolve (%s): calls from it are not recognised", name, exc)
            return ()
        found = (str(info[4][0]) for info in infos)
        return tuple(dict.fromkeys(canonical(address) or address for address in found))


def _failure_logged(build: asyncio.Future) -> None:
    if not build.cancelled() and build.exception() is not None:
        log.warning("carrier gateway index not built: %s", build.exception())


class GatewayIndex:
    def __init__(self, resources: Resources, resolver: Resolver | None = None):
        self.resources = resources
        self.resolver = resolver or Resolver()
        self._built: tuple[str | None, dict[str, list[_Entry]]] | None = None
        self._building: tuple[str | None, asyncio.Future] | None = None
        self._names_until = math.inf  # when the names the index resolved are to be resolved again

    async def carriers_at(self, host: str, port: int) -> tuple[CarrierSource, ...]:
        """The enabled carriers with a gateway at this source address, as stored now."""
        address = canonical(host)
        if address is None:
            return ()
        index = await self._current()
        return tuple(dict.fromkeys(e.source for e in index.get(address, ()) if e.port in (None, port)))

    async def _current(self) -> dict[str, list[_Entry]]:
        """The index at the marker's current revision; one build serves every call waiting for it."""
        marker = await self.resources.any_revision()
        if self._built is not None and self._built[0] == marker:
            if time.monotonic() > self._names_until:
                self._start(marker)  # in the background: this call goes on with the index as it is
            return self._built[1]
        return await asyncio.shield(self._start(marker))

    def _start(self, marker: str | None) -> asyncio.Future:
        """The build for `marker`: the one under way, else a new one."""
        if self._building is None or self._building[0] != marker or self._building[1].done():
            build = asyncio.ensure_future(self._build(marker))
            build.add_done_callback(_failure_logged)
            self._building = (marker, build)
        return self._building[1]

    async def _build(self, marker: str | None) -> dict[str, list[_Entry]]:
        stored = await self.resources.load_all()
        servers = [
            (server, port, partition, doc)
            for partition, docs in stored.items()
            for doc in docs
            for server, port in _gateways(doc)
        ]
        names = [server for server, *_ in servers if canonical(server) is None]
        resolved = await self.resolver.addresses(names)
        index: dict[str, list[_Entry]] = {}
        for server, port, partition, doc in servers:
            source = CarrierSource(doc["_id"], doc.get("name", ""), partition)
            literal = canonical(server)
            for address in (literal,) if literal else resolved.get(server, ()):
                index.setdefault(address, []).append(_Entry(port, source))
        if self._built is None or self._building is None or self._building[0] == marker:
            self._built = (marker, index)
            self._names_until = time.monotonic() + RESOLVED_TTL_S if names else math.inf
        return index

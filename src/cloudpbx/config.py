"""Settings of one running platform: where data lives, where to listen, API limits."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cloudpbx.store import default_url


def parse_hostport(value: str, default_port: int) -> tuple[str, int]:
    """`HOST:PORT`, `HOST` or `:PORT` → (host, port); a bad port is a ValueError with a clear message."""
    host, sep, port = value.rpartition(":")
    if not sep:
        return value, default_port
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"invalid port in {value!r}")
    return host or "127.0.0.1", int(port)


DEFAULT_RTP_PORTS = (16384, 32767)


def parse_port_range(value: str) -> tuple[int, int]:
    """`LOW-HIGH` → (low, high), with room for at least one even/odd RTP/RTCP pair."""
    low, sep, high = value.partition("-")
    if not (sep and low.strip().isdigit() and high.strip().isdigit()):
        raise ValueError(f"RTP port range must be LOW-HIGH, got {value!r}")
    first, last = int(low), int(high)
    if not 0 < first < last <= 65535 or first + (first & 1) + 1 > last:
        raise ValueError(f"invalid RTP port range {value!r}")
    return first, last


@dataclass
class Settings:
    data_dir: Path = Path("var")
    db_url: str = ""
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    realm_suffix: str = "sip.cloudpbx.local"
    token_expiry_s: int = 3600
    page_size: int = 50
    max_body_bytes: int = 8_000_000
    bucket_capacity: int = 100
    bucket_fill_per_s: float = 10.0
    rtp_ports: tuple[int, int] = DEFAULT_RTP_PORTS
    sip_host: str = "127.0.0.1"
    sip_port: int = 5060
    sip_announce: str | None = None  # the address phones reach us at (Via, Contact, SDP); default: sip_host
    sip_min_expires: int = 60  # registration lifetimes are clamped into [min, max]
    sip_max_expires: int = 3600
    sip_nonce_ttl: float = 300.0  # digest nonces older than this are stale
    sip_auth_failures: tuple[int, float, float] = (10, 60.0, 60.0)  # failures within seconds → refused for seconds
    http_header_timeout_s: float = 10.0  # a request header must be complete this soon after it or its connection began
    http_keepalive_s: float = 5.0  # an idle keep-alive connection is closed after this
    http_max_connections: int = 10000  # in all (lowered to fit the file limit at start)
    http_max_per_address: int = 100
    sip_tcp_message_timeout_s: float = 10.0  # a message begun (or a new connection) must be complete within this
    sip_tcp_idle_s: float = 4000.0  # longer than the longest registration, so phones' connections stay up
    sip_tcp_max_connections: int = 10000
    sip_tcp_max_per_address: int = 100
    public_url: str | None = None  # where clients reach the API (scheme://host[:port]), for apps' absolute api_url
    ui_dir: Path | None = None  # a Monster UI build served at / (cloudpbx serve --ui)
    balance_crawler_s: float = 60.0  # how often each process hangs up its calls of accounts out of money
    trunk_lease_ttl_s: float = 30.0  # a dead process's calls stop counting (and are billed) this long after it died
    node: str = field(default_factory=lambda: f"cloudpbx@{os.uname().nodename}")

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        if not self.db_url:
            self.db_url = default_url(self.data_dir.resolve())

    @classmethod
    def from_env(
        cls,
        data_dir: str | None = None,
        db_url: str | None = None,
        http: str | None = None,
        rtp_ports: str | None = None,
        sip: str | None = None,
        announce: str | None = None,
        public_url: str | None = None,
        ui: str | None = None,
    ) -> Settings:
        """Flags win over CLOUDPBX_* variables, which win over defaults."""
        env = os.environ
        data = data_dir or env.get("CLOUDPBX_DATA_DIR") or "var"
        host, port = parse_hostport(http or env.get("CLOUDPBX_HTTP") or "127.0.0.1:8000", 8000)
        extra: dict[str, Any] = {}  # settings by field name, each checked by its parser
        if "CLOUDPBX_RATE_LIMIT" in env:  # "capacity/fill_per_second"
            cap, _, fill = env["CLOUDPBX_RATE_LIMIT"].partition("/")
            extra = {"bucket_capacity": int(cap), "bucket_fill_per_s": float(fill or cap)}
        if "CLOUDPBX_REALM_SUFFIX" in env:
            extra["realm_suffix"] = env["CLOUDPBX_REALM_SUFFIX"]
        if rtp_ports or "CLOUDPBX_RTP_PORTS" in env:
            extra["rtp_ports"] = parse_port_range(rtp_ports or env["CLOUDPBX_RTP_PORTS"])
        sip_at = sip or env.get("CLOUDPBX_SIP") or "127.0.0.1:5060"
        extra["sip_host"], extra["sip_port"] = parse_hostport(sip_at, 5060)
        extra["sip_announce"] = announce_address(extra["sip_host"], announce or env.get("CLOUDPBX_SIP_ANNOUNCE"))
        extra["public_url"] = checked_public_url(public_url or env.get("CLOUDPBX_PUBLIC_URL"))
        if ui or env.get("CLOUDPBX_UI"):
            extra["ui_dir"] = checked_ui_dir(ui or env["CLOUDPBX_UI"])
        if "CLOUDPBX_SIP_NONCE_TTL" in env:
            extra["sip_nonce_ttl"] = float(env["CLOUDPBX_SIP_NONCE_TTL"])
        extra |= connection_limits(env)
        return cls(
            data_dir=Path(data),
            db_url=db_url or env.get("CLOUDPBX_DB_URL", ""),
            http_host=host,
            http_port=port,
            **extra,
        )


CONNECTION_LIMITS = {  # variable → (setting, type): positive numbers
    "CLOUDPBX_HTTP_HEADER_TIMEOUT": ("http_header_timeout_s", float),
    "CLOUDPBX_HTTP_KEEPALIVE_TIMEOUT": ("http_keepalive_s", float),
    "CLOUDPBX_HTTP_MAX_CONNECTIONS": ("http_max_connections", int),
    "CLOUDPBX_HTTP_MAX_PER_ADDRESS": ("http_max_per_address", int),
    "CLOUDPBX_SIP_TCP_MESSAGE_TIMEOUT": ("sip_tcp_message_timeout_s", float),
    "CLOUDPBX_SIP_TCP_IDLE_TIMEOUT": ("sip_tcp_idle_s", float),
    "CLOUDPBX_SIP_TCP_MAX_CONNECTIONS": ("sip_tcp_max_connections", int),
    "CLOUDPBX_SIP_TCP_MAX_PER_ADDRESS": ("sip_tcp_max_per_address", int),
    "CLOUDPBX_BALANCE_CRAWLER_S": ("balance_crawler_s", float),
    "CLOUDPBX_TRUNK_LEASE_TTL_S": ("trunk_lease_ttl_s", float),
}


def connection_limits(env: Mapping[str, str]) -> dict[str, float | int]:
    """The connection limits and timeouts set in `env`; a value that is not a positive number is a ValueError."""
    limits: dict[str, float | int] = {}
    for variable, (name, kind) in CONNECTION_LIMITS.items():
        if variable in env:
            try:
                value = kind(env[variable])
            except ValueError:
                value = 0
            if not value > 0:
                raise ValueError(
                    f"{variable} must be a positive {'integer' if kind is int else 'number'}, got {env[variable]!r}"
                )
            limits[name] = value
    return limits


def announce_address(host: str, announce: str | None) -> str | None:
    """The IP address to put in Via, Contact and SDP; required when SIP binds every address (0.0.0.0, ::)."""
    if announce is None:
        if host in ("0.0.0.0", "::"):
            raise ValueError(
                f"SIP on {host} listens on every address: say which one phones reach with --announce "
                "ADDRESS (or CLOUDPBX_SIP_ANNOUNCE)"
            )
        return None
    try:
        address = ipaddress.ip_address(announce)
    except ValueError:
        raise ValueError(f"announce address {announce!r} is not an IP address") from None
    if address.is_unspecified:
        raise ValueError(f"announce address {announce} is not one phones can reach")
    return str(address)


def checked_public_url(value: str | None) -> str | None:
    """`scheme://host[:port][/prefix]` without a trailing slash; apps get `{value}/v2/` as their api_url."""
    if not value:
        return None
    parsed = urlsplit(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc or parsed.query or parsed.fragment:
        raise ValueError(f"public URL must look like https://pbx.example.com[:PORT], got {value!r}")
    path = parsed.path.rstrip("/")
    if path.endswith("/v2"):
        path = path[:-3]
    return f"{parsed.scheme}://{parsed.netloc}{path}"


def checked_ui_dir(value: str) -> Path:
    """A UI build folder: it must hold index.html (the page served at /)."""
    folder = Path(value).resolve()
    if not (folder / "index.html").is_file():
        raise ValueError(f"UI folder {value!r} has no index.html (give the folder of a Monster UI build, e.g. dist/)")
    return folder

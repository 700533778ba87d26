"""SIP URIs (RFC 3261 19.1): strict parsing, because a lenient parser hides malformed requests that deserve a 400.

`sip:`/`sips:` URIs are split into user, password, host, port, parameters and headers; any other scheme (tel:,
urn:, http:, ...) is kept opaque so that a request naming one can be refused with 416.
"""

from __future__ import annotations

import ipaddress
import re

MAX_PORT = 65535
PARSED_KEPT = 4096  # header values and URIs kept parsed, per kind
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")
_ESCAPED = r"%[0-9A-Fa-f]{2}"
_UNRESERVED = r"A-Za-z0-9\-_.!~*'()"
_USER = re.compile(rf"(?:[{_UNRESERVED}&=+$,;?/]|{_ESCAPED})+")
_PASSWORD = re.compile(rf"(?:[{_UNRESERVED}&=+$,]|{_ESCAPED})*")
_HOSTNAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*\.?")
_PARAM = re.compile(rf"(?:[{_UNRESERVED}\[\]/:&+$]|{_ESCAPED})+")
_HEADERS = re.compile(rf"(?:[{_UNRESERVED}\[\]/?:+$=&]|{_ESCAPED})+")
_OPAQUE = re.compile(r"[!-~]+")  # any visible ASCII: no whitespace, no controls


class UriError(ValueError):
    """Not a URI we accept."""


class Uri:
    """A parsed URI. For sip/sips the parts are split out; other schemes keep their text in `opaque`."""

    __slots__ = ("headers", "host", "opaque", "params", "password", "port", "scheme", "user")

    def __init__(
        self,
        scheme: str = "sip",
        user: str | None = None,
        host: str = "",
        port: int | None = None,
        params: dict[str, str | None] | None = None,
        headers: str | None = None,
        password: str | None = None,
        opaque: str | None = None,
    ):
        self.scheme = scheme
        self.user = user
        self.password = password
        self.host = host
        self.port = port
        self.params = params if params is not None else {}
        self.headers = headers
        self.opaque = opaque

    @property
    def is_sip(self) -> bool:
        return self.opaque is None

    @property
    def transport(self) -> str:
        """The transport the URI asks for (lower case), UDP unless it says otherwise (TLS for sips)."""
        value = self.params.get("transport")
        if value:
            return value.lower()
        return "tls" if self.scheme == "sips" else "udp"

    @property
    def host_is_ip(self) -> bool:
        return is_ip(self.host)

    @property
    def bare_host(self) -> str:
        """The host without IPv6 brackets, as sockets want it."""
        return self.host[1:-1] if self.host.startswith("[") else self.host

    def copy(self) -> Uri:
        return Uri(
            self.scheme, self.user, self.host, self.port, dict(self.params), self.headers, self.password, self.opaque
        )

    def __str__(self) -> str:
        if self.opaque is not None:
            return f"{self.scheme}:{self.opaque}"
        out = [self.scheme, ":"]
        if self.user is not None:
            out.append(self.user)
            if self.password is not None:
                out += [":", self.password]
            out.append("@")
        out.append(self.host)
        if self.port is not None:
            out += [":", str(self.port)]
        for name, value in self.params.items():
            out += [";", name] if value is None else [";", name, "=", value]
        if self.headers is not None:
            out += ["?", self.headers]
        return "".join(out)

    def __repr__(self) -> str:
        return f"Uri({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Uri) and self.key() == other.key()

    def __hash__(self) -> int:
        return hash(self.key())

    def key(self) -> tuple:
        """What identifies the URI for comparisons: case-insensitive scheme/host/params, case-sensitive user."""
        if self.opaque is not None:
            return (self.scheme, self.opaque)
        params = tuple(sorted((k, (v or "").lower()) for k, v in self.params.items() if k in _COMPARED_PARAMS))
        return (self.scheme, unescape(self.user or ""), self.host.lower(), self.port, params)

    @classmethod
    def parse(cls, text: str) -> Uri:
        """The URI `text` names; the same object for the same text (until PARSED_KEPT others were parsed), so it
        is read, never changed: `copy()` it first."""
        parsed = _PARSED.get(text)
        if parsed is None:
            parsed = cls._parse(text)
            if len(_PARSED) >= PARSED_KEPT:
                _PARSED.clear()
            _PARSED[text] = parsed
        return parsed

    @classmethod
    def _parse(cls, text: str) -> Uri:
        scheme, sep, rest = text.partition(":")
        if not sep or not _SCHEME.fullmatch(scheme):
            raise UriError(f"no scheme in {text!r}")
        scheme = scheme.lower()
        if scheme not in ("sip", "sips"):
            if not rest or not _OPAQUE.fullmatch(rest):
                raise UriError(f"bad {scheme} URI")
            return cls(scheme, opaque=rest)
        return _parse_sip(scheme, rest)


_COMPARED_PARAMS = ("user", "ttl", "method", "maddr", "transport")
_PARSED: dict[str, Uri] = {}


def _parse_sip(scheme: str, rest: str) -> Uri:
    user = password = None
    at = rest.find("@")
    if at >= 0:
        userinfo, rest = rest[:at], rest[at + 1 :]
        user, sep, password = userinfo.partition(":")
        if not _USER.fullmatch(user) or (sep and not _PASSWORD.fullmatch(password)):
            raise UriError("bad user part")
        password = password if sep else None
    rest, qmark, headers = rest.partition("?")
    if qmark and not _HEADERS.fullmatch(headers):
        raise UriError("bad URI headers")
    hostport, *params = rest.split(";")
    host, port = split_hostport(hostport)
    return Uri(scheme, user, host, port, parse_uri_params(params), headers if qmark else None, password)


def split_hostport(text: str) -> tuple[str, int | None]:
    """`host[:port]` with an IPv4, [IPv6] or domain host; raises UriError."""
    if text.startswith("["):
        end = text.find("]")
        host, tail = text[: end + 1], text[end + 1 :]
        if end < 0 or not is_ip(host[1:-1]) or ":" not in host:
            raise UriError("bad IPv6 reference")
    else:
        host, sep, tail = text.partition(":")
        tail = sep + tail
        if not _HOSTNAME.fullmatch(host):
            raise UriError(f"bad host {host!r}")
    if not tail:
        return host, None
    if tail[0] != ":" or not tail[1:].isdigit() or len(tail) > 6 or not 0 < int(tail[1:]) <= MAX_PORT:
        raise UriError("bad port")
    return host, int(tail[1:])


def parse_uri_params(parts: list[str]) -> dict[str, str | None]:
    params: dict[str, str | None] = {}
    for part in parts:
        name, sep, value = part.partition("=")
        if not _PARAM.fullmatch(name) or (sep and not _PARAM.fullmatch(value)):
            raise UriError(f"bad URI parameter {part!r}")
        params[name.lower()] = value if sep else None
    return params


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host[1:-1] if host.startswith("[") else host)
    except ValueError:
        return False
    return True


def unescape(text: str) -> str:
    """Decode %XX escapes (so that `%75ser` and `user` compare equal)."""
    if "%" not in text:
        return text
    return re.sub(r"%([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), text)

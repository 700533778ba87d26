"""Structured header values: name-addr (From, To, Contact, Route), Via, CSeq, comma lists and auth parameters.

Each parser is strict about what RFC 3261 section 25 forbids (stray separators, unbalanced quotes, spaces inside
a URI) and tolerant of what it allows (linear whitespace around separators, unknown parameters).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cloudpbx.sip.uri import PARSED_KEPT, Uri, UriError, split_hostport

MAX_CSEQ = 2**31 - 1
MAX_DELTA = 2**32 - 1
_TOKEN = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
_TOKENS = re.compile(r"\s*[A-Za-z0-9\-.!%*_+`'~]+(?:\s+[A-Za-z0-9\-.!%*_+`'~]+)*\s*")  # a display name unquoted
_PARAM_VALUE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~:\[\]]+")
_VIA = re.compile(
    r"\s*([A-Za-z0-9\-.!%*_+`'~]+)\s*/\s*([A-Za-z0-9\-.!%*_+`'~]+)\s*/\s*([A-Za-z0-9\-.!%*_+`'~]+)"
    r"\s+(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-.]+)(?:\s*:\s*(\d+))?\s*(;.*)?",
    re.S,
)
_CSEQ = re.compile(r"\s*(\d{1,10})\s+([A-Za-z0-9\-.!%*_+`'~]+)\s*")
_RACK = re.compile(r"\s*(\d{1,10})\s+(\d{1,10})\s+([A-Za-z0-9\-.!%*_+`'~]+)\s*")
_DATE = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} "
    r"\d{2}:\d{2}:\d{2} GMT"
)
MAGIC_COOKIE = "z9hG4bK"


class HeaderError(ValueError):
    """A header value that breaks the grammar."""


def is_token(text: str) -> bool:
    return _TOKEN.fullmatch(text) is not None


def split_list(value: str) -> list[str]:
    """Split a comma-separated header value, keeping commas inside quotes and <...> (e.g. display names)."""
    if "," not in value:
        stripped = value.strip()
        return [stripped] if stripped else []
    items, start, quoted, angle, i = [], 0, False, False, 0
    while i < len(value):
        char = value[i]
        if quoted:
            if char == "\\":
                i += 1
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char == "<":
            angle = True
        elif char == ">":
            angle = False
        elif char == "," and not angle:
            items.append(value[start:i].strip())
            start = i + 1
        i += 1
    items.append(value[start:].strip())
    if any(not item for item in items):
        raise HeaderError("empty list element")
    return items


def parse_params(text: str) -> dict[str, str | None]:
    """`;name=value;flag` (LWS allowed around separators, quoted values kept with their quotes)."""
    params: dict[str, str | None] = {}
    if not text.strip():
        return params
    text = text.strip()
    if text[0] != ";":
        raise HeaderError("parameters must start with ';'")
    for part in _split_semicolons(text[1:]):
        name, sep, value = part.partition("=")
        name, value = name.strip(), value.strip()
        if not is_token(name):
            raise HeaderError(f"bad parameter {part!r}")
        if sep and not (_PARAM_VALUE.fullmatch(value) or _is_quoted(value)):
            raise HeaderError(f"bad parameter value {part!r}")
        params[name.lower()] = value if sep else None
    return params


def _split_semicolons(text: str) -> list[str]:
    if '"' not in text:
        return text.split(";")
    parts, start, quoted = [], 0, False
    for i, char in enumerate(text):
        if char == '"' and (i == 0 or text[i - 1] != "\\"):
            quoted = not quoted
        elif char == ";" and not quoted:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _is_quoted(value: str) -> bool:
    if len(value) < 2 or value[0] != '"' or value[-1] != '"':
        return False
    try:
        return read_quoted(value, 0)[1] == len(value)
    except HeaderError:
        return False


def read_quoted(text: str, start: int) -> tuple[str, int]:
    """The unescaped content of the quoted string at `start` and the index just after its closing quote."""
    end = text.find('"', start + 1)
    if end > 0 and "\\" not in text[start + 1 : end]:  # the usual case: no escapes
        return text[start + 1 : end], end + 1
    out, i = [], start + 1
    while i < len(text):
        char = text[i]
        if char == "\\":
            if i + 1 >= len(text):
                break
            out.append(text[i + 1])
            i += 2
            continue
        if char == '"':
            return "".join(out), i + 1
        out.append(char)
        i += 1
    raise HeaderError("unterminated quoted string")


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_params(params: dict[str, str | None]) -> str:
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())


class NameAddr:
    """`"Display" <uri>;params` (From, To, Contact, Route, Record-Route, P-Asserted-Identity).

    Parsed values are shared between the messages that carry the same text (a call's From and To come back in
    every request and response of it): read them, or `copy()` the URI to change it.
    """

    __slots__ = ("display", "params", "uri")

    def __init__(self, uri: Uri, display: str | None = None, params: dict[str, str | None] | None = None):
        self.uri = uri
        self.display = display
        self.params = params if params is not None else {}

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    def __str__(self) -> str:
        display = f"{quote(self.display)} " if self.display else ""
        return f"{display}<{self.uri}>{render_params(self.params)}"

    def __repr__(self) -> str:
        return f"NameAddr({str(self)!r})"

    @classmethod
    def parse(cls, value: str) -> NameAddr:
        parsed = _NAME_ADDRS.get(value)
        if parsed is None:
            parsed = cls._parse(value)
            if len(_NAME_ADDRS) >= PARSED_KEPT:
                _NAME_ADDRS.clear()
            _NAME_ADDRS[value] = parsed
        return parsed

    @classmethod
    def _parse(cls, value: str) -> NameAddr:
        text = value.strip()
        display = None
        if text.startswith('"'):
            display, end = read_quoted(text, 0)
            text = text[end:].lstrip()
            if not text.startswith("<"):
                raise HeaderError("a quoted display name must be followed by <uri>")
        lt = text.find("<")
        if lt >= 0:
            if display is None:
                display = _token_display(text[:lt])
            gt = text.find(">", lt)
            if gt < 0:
                raise HeaderError("unbalanced <")
            uri_text, rest = text[lt + 1 : gt], text[gt + 1 :]
        else:
            uri_text, semi, rest = text.partition(";")
            uri_text, rest = uri_text.rstrip(), semi + rest
            if "?" in uri_text or "," in uri_text:
                raise HeaderError("a URI with headers or commas must be enclosed in <>")
        try:
            uri = Uri.parse(uri_text)
        except UriError as exc:
            raise HeaderError(str(exc)) from None
        return cls(uri, display, parse_params(rest))


_NAME_ADDRS: dict[str, NameAddr] = {}


def _token_display(text: str) -> str | None:
    if not text or text.isspace():
        return None
    if _TOKENS.fullmatch(text) is None:
        raise HeaderError("an unquoted display name may only hold tokens")
    return " ".join(text.split())


def parse_contacts(value: str) -> list[NameAddr] | None:
    """The Contact list; None stands for `*` (all bindings)."""
    if value.strip() == "*":
        return None
    return [NameAddr.parse(item) for item in split_list(value)]


class Via:
    """`SIP/2.0/UDP host:port;branch=...;rport` with its parameters in order."""

    __slots__ = ("host", "params", "port", "protocol", "transport")

    def __init__(
        self,
        transport: str,
        host: str,
        port: int | None = None,
        params: dict[str, str | None] | None = None,
        protocol: str = "SIP/2.0",
    ):
        self.protocol = protocol
        self.transport = transport
        self.host = host
        self.port = port
        self.params = params if params is not None else {}

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @property
    def bare_host(self) -> str:
        return self.host[1:-1] if self.host.startswith("[") else self.host

    @property
    def sent_by(self) -> str:
        return f"{self.host.lower()}:{self.port or 5060}"

    def __str__(self) -> str:
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.protocol}/{self.transport} {self.host}{port}{render_params(self.params)}"

    @classmethod
    def parse(cls, value: str) -> Via:
        match = _VIA.fullmatch(value)
        if not match:
            raise HeaderError(f"bad Via {value!r}")
        name, version, transport, host, port, params = match.groups()
        try:
            host, _ = split_hostport(host)
        except UriError as exc:
            raise HeaderError(str(exc)) from None
        if port is not None and not 0 < int(port) <= 65535:
            raise HeaderError("bad Via port")
        return cls(
            transport.upper(),
            host,
            int(port) if port else None,
            parse_params(params or ""),
            f"{name.upper()}/{version}",
        )


@dataclass(frozen=True, slots=True)
class CSeq:
    number: int
    method: str

    def __str__(self) -> str:
        return f"{self.number} {self.method}"

    @classmethod
    def parse(cls, value: str) -> CSeq:
        match = _CSEQ.fullmatch(value)
        if not match or int(match.group(1)) > MAX_CSEQ:
            raise HeaderError(f"bad CSeq {value!r}")
        return cls(int(match.group(1)), match.group(2))


@dataclass(frozen=True, slots=True)
class RAck:
    """A PRACK's `RAck: <RSeq> <CSeq number> <method>` (RFC 3262 7.2): the reliable provisional it acknowledges."""

    rseq: int
    cseq: int
    method: str

    def __str__(self) -> str:
        return f"{self.rseq} {self.cseq} {self.method}"

    @classmethod
    def parse(cls, value: str) -> RAck:
        match = _RACK.fullmatch(value)
        if not match or not 0 < int(match.group(1)) <= MAX_CSEQ or int(match.group(2)) > MAX_CSEQ:
            raise HeaderError(f"bad RAck {value!r}")
        return cls(int(match.group(1)), int(match.group(2)), match.group(3))


def parse_rseq(value: str) -> int:
    """An RSeq (RFC 3262 7.1): 1 to 2**31-1."""
    number = parse_delta(value, MAX_CSEQ)
    if not number:
        raise HeaderError("bad RSeq 0")
    return number


def parse_delta(value: str, limit: int = MAX_DELTA) -> int:
    """delta-seconds and other small counters (Expires, Max-Forwards); raises HeaderError when out of range."""
    value = value.strip()
    if not value.isdigit() or len(value) > 10 or int(value) > limit:
        raise HeaderError(f"bad number {value!r}")
    return int(value)


def is_http_date(value: str) -> bool:
    return _DATE.fullmatch(value.strip()) is not None


def parse_auth(value: str) -> tuple[str, dict[str, str]]:
    """`Digest username="u", realm="r", ...` → ("digest", {"username": "u", ...}); values unquoted."""
    scheme, _, rest = value.strip().partition(" ")
    params: dict[str, str] = {}
    i, n = 0, len(rest)
    while i < n:
        while i < n and rest[i] in " \t,":
            i += 1
        eq = rest.find("=", i)
        if eq < 0:
            break
        name = rest[i:eq].strip().lower()
        i = eq + 1
        while i < n and rest[i] in " \t":
            i += 1
        if i < n and rest[i] == '"':
            params[name], i = read_quoted(rest, i)
        else:
            end = rest.find(",", i)
            end = n if end < 0 else end
            params[name] = rest[i:end].strip()
            i = end
    return scheme.lower(), params

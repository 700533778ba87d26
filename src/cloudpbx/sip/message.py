"""SIP messages (RFC 3261 section 7): parsing from bytes, building, and serializing.

Headers are kept as raw text per lower-case name (compact forms expanded) and parsed only when asked, once:
most headers of a REGISTER or an in-dialog request are never looked at, only copied. A message whose framing
or start line is broken but which still names where an answer goes carries a `defect` instead of raising, so
that the core can answer 400 rather than drop it.
"""

from __future__ import annotations

from collections.abc import Iterable

from cloudpbx.sip.headers import CSeq, HeaderError, NameAddr, Via, is_token, parse_contacts, parse_delta, split_list
from cloudpbx.sip.uri import Uri

SIP_VERSION = "SIP/2.0"
COMPACT = {
    "i": "call-id",
    "m": "contact",
    "e": "content-encoding",
    "l": "content-length",
    "c": "content-type",
    "f": "from",
    "s": "subject",
    "k": "supported",
    "t": "to",
    "v": "via",
    "o": "event",
    "r": "refer-to",
    "b": "referred-by",
    "u": "allow-events",
    "x": "session-expires",
    "a": "accept-contact",
    "j": "reject-contact",
    "d": "request-disposition",
    "y": "identity",
    "n": "identity-info",
}
_DISPLAY = {
    "call-id": "Call-ID",
    "cseq": "CSeq",
    "www-authenticate": "WWW-Authenticate",
    "rack": "RAck",
    "rseq": "RSeq",
    "sip-etag": "SIP-ETag",
    "sip-if-match": "SIP-If-Match",
    "mime-version": "MIME-Version",
    "p-asserted-identity": "P-Asserted-Identity",
    "p-preferred-identity": "P-Preferred-Identity",
    "min-se": "Min-SE",
}
_STANDARD = frozenset(
    (
        *COMPACT.values(),
        *_DISPLAY,
        "from",
        "to",
        "cseq",
        "max-forwards",
        "expires",
        "min-expires",
        "date",
        "user-agent",
        "server",
        "authorization",
        "proxy-authorization",
        "proxy-authenticate",
        "retry-after",
        "organization",
        "priority",
        "timestamp",
        "reply-to",
        "subscription-state",
        "authentication-info",
    )
)
LIST_HEADERS = frozenset(
    (
        "via",
        "contact",
        "route",
        "record-route",
        "allow",
        "supported",
        "require",
        "proxy-require",
        "unsupported",
        "accept",
        "accept-encoding",
        "accept-language",
        "allow-events",
        "content-encoding",
        "content-language",
        "in-reply-to",
        "warning",
        "call-info",
        "alert-info",
        "error-info",
        "path",
        "reason",
        "p-asserted-identity",
    )
)
REASONS = {
    100: "Trying",
    180: "Ringing",
    181: "Call Is Being Forwarded",
    182: "Queued",
    183: "Session Progress",
    200: "OK",
    202: "Accepted",
    301: "Moved Permanently",
    302: "Moved Temporarily",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    410: "Gone",
    413: "Request Entity Too Large",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    420: "Bad Extension",
    421: "Extension Required",
    423: "Interval Too Brief",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    483: "Too Many Hops",
    484: "Address Incomplete",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    491: "Request Pending",
    500: "Server Internal Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Server Time-out",
    505: "Version Not Supported",
    513: "Message Too Large",
    600: "Busy Everywhere",
    603: "Decline",
    604: "Does Not Exist Anywhere",
    606: "Not Acceptable",
}
_KEYS: dict[str, str] = {}  # raw header name → key, for the names phones send again and again
_UNPARSED = object()


class ParseError(ValueError):
    """Bytes that are not a SIP message at all: nothing to answer."""


def header_key(name: str) -> str:
    key = _KEYS.get(name)
    if key is None:
        lower = name.lower()
        key = COMPACT.get(lower, lower)
        if len(_KEYS) < 4096 and is_token(name):
            _KEYS[name] = key
    return key


def display_name(key: str) -> str:
    name = _DISPLAY.get(key)
    if name is None:
        name = "-".join(part.capitalize() for part in key.split("-"))
        if len(_DISPLAY) < 4096:  # every message sent spells its header names
            _DISPLAY[key] = name
    return name


class Message:
    """Headers (raw values per key, in arrival order) and a body, with parsed views cached on first use."""

    __slots__ = ("_headers", "_names", "_parsed", "body", "defect")

    def __init__(self, headers: Iterable[tuple[str, str]] = (), body: bytes = b""):
        self._headers: dict[str, tuple[str, ...]] = {}  # tuples: the collector stops tracking them
        self._names: dict[str, str] = {}
        self._parsed: dict[str, object] = {}
        self.body = body
        self.defect: str | None = None
        for name, value in headers:
            self.add(name, value)

    # raw access ------------------------------------------------------------------------------------------------

    def get(self, name: str) -> str | None:
        values = self._headers.get(header_key(name))
        return values[0] if values else None

    def header(self, name: str) -> str:
        """The first line of a header the message cannot be without (HeaderError when it has none)."""
        values = self._headers.get(header_key(name))
        if not values:
            raise HeaderError(f"missing {display_name(header_key(name))}")
        return values[0]

    def get_all(self, name: str) -> list[str]:
        return list(self._headers.get(header_key(name), ()))

    def values(self, name: str) -> list[str]:
        """Every element of a list header, across repeated header lines (`Via: a, b` + `Via: c` → a, b, c)."""
        key = header_key(name)
        raw = self._headers.get(key, ())
        if key not in LIST_HEADERS:
            return list(raw)
        return [item for line in raw for item in split_list(line)]

    def __contains__(self, name: str) -> bool:
        return header_key(name) in self._headers

    def count(self, name: str) -> int:
        return len(self._headers.get(header_key(name), ()))

    def add(self, name: str, value: str) -> None:
        key = header_key(name)
        self._headers[key] = self._headers.get(key, ()) + (value,)
        self._remember_name(key, name)
        self._changed(key)

    def set(self, name: str, value: str) -> None:
        key = header_key(name)
        self._headers[key] = (value,)
        self._remember_name(key, name)
        self._changed(key)

    def set_first(self, name: str, value: str) -> None:
        """Replace the first line of a header, keeping the others (the top Via gets received/rport)."""
        key = header_key(name)
        self._headers[key] = (value, *self._headers[key][1:])
        self._changed(key)

    def prepend(self, name: str, value: str) -> None:
        key = header_key(name)
        self._headers[key] = (value, *self._headers.get(key, ()))
        self._remember_name(key, name)
        self._changed(key)

    def remove(self, name: str) -> None:
        key = header_key(name)
        self._headers.pop(key, None)
        self._changed(key)

    def items(self) -> list[tuple[str, str]]:
        """(display name, raw value) for every header line, same-name lines kept in order."""
        return [
            (self._names.get(key) or display_name(key), value)
            for key, values in self._headers.items()
            for value in values
        ]

    def _changed(self, key: str) -> None:
        self._parsed.pop(key, None)
        if key == "via":
            self._parsed.pop("top-via", None)

    def compact(self) -> None:
        """Drop the parsed views (they are parsed again if asked for): a message kept only to be sent again
        should not keep dozens of objects alive for the garbage collector to walk."""
        self._parsed.clear()

    def _remember_name(self, key: str, name: str) -> None:
        if key not in _STANDARD and key not in LIST_HEADERS and name != display_name(key):
            self._names.setdefault(key, name)

    # parsed views ----------------------------------------------------------------------------------------------

    def _cached(self, key: str, parse):
        value = self._parsed.get(key, _UNPARSED)
        if value is _UNPARSED:
            value = self._parsed[key] = parse()
        return value

    def _one(self, key: str) -> str:
        values = self._headers.get(key)
        if not values:
            raise HeaderError(f"missing {display_name(key)}")
        if len(values) > 1:
            raise HeaderError(f"more than one {display_name(key)}")
        return values[0]

    @property
    def call_id(self) -> str:
        def parse() -> str:
            value = self._one("call-id").strip()
            if not value or " " in value or "\t" in value:
                raise HeaderError("bad Call-ID")
            return value

        return self._cached("call-id", parse)

    @property
    def cseq(self) -> CSeq:
        return self._cached("cseq", lambda: CSeq.parse(self._one("cseq")))

    @property
    def from_(self) -> NameAddr:
        return self._cached("from", lambda: NameAddr.parse(self._one("from")))

    @property
    def to(self) -> NameAddr:
        return self._cached("to", lambda: NameAddr.parse(self._one("to")))

    @property
    def vias(self) -> list[Via]:
        return self._cached("via", lambda: [Via.parse(v) for v in self.values("via")])

    @property
    def via(self) -> Via:
        """The top Via (parsed alone, without the rest of the stack)."""

        def parse() -> Via:
            lines = self._headers.get("via")
            if not lines:
                raise HeaderError("missing Via")
            return Via.parse(split_list(lines[0])[0])

        if "via" in self._parsed:
            return self.vias[0]
        return self._cached("top-via", parse)

    @property
    def contacts(self) -> list[NameAddr] | None:
        """Every Contact (none: []); None for `Contact: *`."""

        def parse() -> list[NameAddr] | None:
            lines = self._headers.get("contact", ())
            if len(lines) == 1:
                return parse_contacts(lines[0])
            found: list[NameAddr] = []
            for line in lines:
                contacts = parse_contacts(line)
                if contacts is None:
                    raise HeaderError("'*' must be the only Contact")
                found.extend(contacts)
            return found

        return self._cached("contact", parse)

    @property
    def max_forwards(self) -> int | None:
        def parse():
            return parse_delta(self._one("max-forwards"), 255) if "max-forwards" in self._headers else None

        return self._cached("max-forwards", parse)

    @property
    def expires(self) -> int | None:
        def parse():
            return parse_delta(self._one("expires")) if "expires" in self._headers else None

        return self._cached("expires", parse)

    @property
    def content_type(self) -> str | None:
        value = self.get("content-type")
        return value.split(";", 1)[0].strip().lower() if value else None

    # serialization ---------------------------------------------------------------------------------------------

    def start_line(self) -> str:
        raise NotImplementedError

    def encode(self) -> bytes:
        lines = [self.start_line()]
        for key, values in self._headers.items():
            if key == "content-length":
                continue
            name = self._names.get(key) or display_name(key)
            lines.extend(f"{name}: {value}" for value in values)
        lines.append(f"Content-Length: {len(self.body)}\r\n\r\n")
        return "\r\n".join(lines).encode("utf-8", "surrogateescape") + self.body

    def __bytes__(self) -> bytes:
        return self.encode()


class Request(Message):
    __slots__ = ("method", "uri", "version")

    def __init__(
        self,
        method: str,
        uri: str | Uri,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        version: str = SIP_VERSION,
    ):
        super().__init__(headers, body)
        self.method = method
        self.uri = str(uri)
        self.version = version

    @property
    def ruri(self) -> Uri:
        """The Request-URI, parsed (UriError when it is not one)."""
        return self._cached(" ruri", lambda: Uri.parse(self.uri))

    def set_uri(self, uri: str | Uri) -> None:
        self.uri = str(uri)
        self._parsed.pop(" ruri", None)

    def start_line(self) -> str:
        return f"{self.method} {self.uri} {self.version}"

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.uri}>"


class Response(Message):
    __slots__ = ("reason", "status", "version")

    def __init__(
        self,
        status: int,
        reason: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        version: str = SIP_VERSION,
    ):
        super().__init__(headers, body)
        self.status = status
        self.reason = REASONS.get(status, "Unknown") if reason is None else reason
        self.version = version

    @property
    def final(self) -> bool:
        return self.status >= 200

    def start_line(self) -> str:
        return f"{self.version} {self.status} {self.reason}"

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason}>"


def parse(data: bytes) -> Request | Response:
    """One message from a datagram or a framed stream chunk. Raises ParseError when it is not SIP at all.

    Lines may end in bare LF as well as CRLF (RFC 3261 7.5 asks receivers to be tolerant). A request whose
    headers never end still names where an answer goes: it carries a defect, so the core can answer 400.
    """
    data = data.lstrip(b"\r\n")
    end = data.find(b"\r\n\r\n")
    if end >= 0 and data.count(b"\n", 0, end) == data.count(b"\r\n", 0, end):  # CRLF only: the usual case
        ended, body_start = True, end + 4
        start, *lines = data[:end].decode("utf-8", "surrogateescape").split("\r\n")
    else:
        start, lines, ended, body_start = _lf_head(data)
    msg = _start(start)
    if not ended:
        if isinstance(msg, Response):
            raise ParseError("no end of headers")
        msg.defect = msg.defect or "no end of headers"
    _headers(msg, lines)
    msg.body = _body(msg, data[body_start:])
    return msg


def _lf_head(data: bytes) -> tuple[str, list[str], bool, int]:
    """Start line, header lines, whether the headers ended, and where the body starts, for any line ends."""
    end, body_start = header_end(data, whole=True)
    ended = end >= 0
    if not ended:
        end = body_start = len(data)
    elif end and data[end - 1] == 13:  # the CR of the last header line's CRLF
        end -= 1
    start, *lines = data[:end].decode("utf-8", "surrogateescape").replace("\r\n", "\n").split("\n")
    return start, lines, ended, body_start


def header_end(data: bytes | bytearray, whole: bool = False) -> tuple[int, int]:
    """(where the last header line's LF is, where the body starts) for the first empty line, CRLF or bare LF;
    a `whole` message (a datagram) may also end right after a header line. (-1, -1) while headers go on."""
    crlf = data.find(b"\n\r\n")
    lf = data.find(b"\n\n", 0, crlf + 1 if crlf >= 0 else len(data))  # only a bare-LF end before the CRLF one
    if lf >= 0:
        return lf, lf + 2
    if crlf >= 0:
        return crlf, crlf + 3
    if whole and data.endswith(b"\n"):
        return len(data) - 1, len(data)
    return -1, -1


def _start(line: str) -> Request | Response:
    if line.startswith("SIP/"):
        version, _, rest = line.partition(" ")
        code, _, reason = rest.partition(" ")
        if len(code) != 3 or not code.isdigit() or not 100 <= int(code) <= 699:
            raise ParseError("bad status line")
        return Response(int(code), reason, version=version)
    parts = line.split(" ")
    if not parts[0] or not is_token(parts[0]):
        raise ParseError("bad request line")
    if len(parts) != 3 or not parts[1] or not parts[2]:
        msg = Request(parts[0], parts[1] if len(parts) > 1 else "")
        msg.defect = "malformed Request-Line"
        return msg
    msg = Request(parts[0], parts[1], version=parts[2])
    if not parts[2].startswith("SIP/"):
        msg.defect = "malformed Request-Line"
    return msg


def _headers(msg: Message, lines: list[str]) -> None:
    name: str | None = None
    value = ""
    for line in lines:
        if line[:1] in (" ", "\t"):
            if name is not None:
                value = f"{value} {line.strip()}"
            else:
                msg.defect = msg.defect or "continuation line before any header"
            continue
        if name is not None:
            _add_parsed(msg, name, value)
        name, sep, value = line.partition(":")
        name = name.rstrip(" \t")
        if not sep or (name not in _KEYS and not is_token(name)):  # names in _KEYS are known tokens
            msg.defect = msg.defect or f"malformed header line {line[:40]!r}"
            name = None
            continue
        value = value.strip()
    if name is not None:
        _add_parsed(msg, name, value)


def _add_parsed(msg: Message, name: str, value: str) -> None:
    key = header_key(name)
    msg._headers[key] = msg._headers.get(key, ()) + (value.strip(),)
    msg._remember_name(key, name)


def _body(msg: Message, body: bytes) -> bytes:
    lengths = msg._headers.get("content-length")
    if not lengths:
        return body
    if len(lengths) > 1:
        msg.defect = msg.defect or "more than one Content-Length"
        return body
    value = lengths[0]
    if not value.isdigit():
        msg.defect = msg.defect or "bad Content-Length"
        return body
    length = int(value)
    if length > len(body):
        msg.defect = msg.defect or "Content-Length larger than the message"
        return body
    return body[:length]

"""SDP bodies (RFC 4566 / RFC 3264): parse, inspect, rewrite and serialize.

Lines keep their order and text so that a B2BUA can pass a body on with only the fields it means to change
(connection addresses, ports, codecs) touched.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import TypeGuard

DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
HOLD_ADDRESSES = ("0.0.0.0", "::")
# RFC 3551 static payload types: number -> (encoding name, clock rate, channels)
STATIC_PAYLOADS: dict[int, tuple[str, int, int]] = {
    0: ("PCMU", 8000, 1),
    3: ("GSM", 8000, 1),
    4: ("G723", 8000, 1),
    5: ("DVI4", 8000, 1),
    6: ("DVI4", 16000, 1),
    7: ("LPC", 8000, 1),
    8: ("PCMA", 8000, 1),
    9: ("G722", 8000, 1),
    10: ("L16", 44100, 2),
    11: ("L16", 44100, 1),
    12: ("QCELP", 8000, 1),
    13: ("CN", 8000, 1),
    14: ("MPA", 90000, 1),
    15: ("G728", 8000, 1),
    16: ("DVI4", 11025, 1),
    17: ("DVI4", 22050, 1),
    18: ("G729", 8000, 1),
    25: ("CelB", 90000, 1),
    26: ("JPEG", 90000, 1),
    28: ("nv", 90000, 1),
    31: ("H261", 90000, 1),
    32: ("MPV", 90000, 1),
    33: ("MP2T", 90000, 1),
    34: ("H263", 90000, 1),
}
# attributes that name one payload type as their first token, removed with the format they describe
PER_FORMAT_ATTRIBUTES = ("rtpmap", "fmtp", "rtcp-fb")
# ICE lines point at the phone's own addresses; an anchored body must not carry them
ICE_ATTRIBUTES = (
    "candidate",
    "remote-candidates",
    "end-of-candidates",
    "ice-ufrag",
    "ice-pwd",
    "ice-options",
    "ice-lite",
    "ice-mismatch",
)


class SdpError(ValueError):
    """The body is not SDP we can work with."""


@dataclass(frozen=True)
class Codec:
    """One payload format of a media line, from its rtpmap or the static table."""

    payload: int
    name: str
    rate: int
    channels: int = 1
    fmtp: str | None = None

    @property
    def key(self) -> tuple[str, int]:
        """(lower-case encoding name, clock rate): what identifies a codec across payload numbers."""
        return self.name.lower(), self.rate


@dataclass
class Media:
    """One m= section: its m-line fields and the lines below it, in order, as [type, value] pairs."""

    kind: str
    port: int
    proto: str
    formats: list[str]
    port_count: int | None = None
    lines: list[list[str]] = field(default_factory=list)

    @property
    def connection(self) -> str | None:
        """The address of this section's own c= line, if it has one."""
        return connection_address(self.lines)

    def attributes(self, name: str) -> list[str]:
        """Values of every `a=name:value` (or "" for a flag `a=name`)."""
        return attribute_values(self.lines, name)

    def attribute(self, name: str) -> str | None:
        values = self.attributes(name)
        return values[0] if values else None

    def remove_attributes(self, *names: str) -> None:
        self.lines = [line for line in self.lines if not (line[0] == "a" and attribute_name(line[1]) in names)]

    @property
    def own_direction(self) -> str | None:
        """The direction attribute of this section itself, None when it has none."""
        return direction_of(self.lines)

    def codecs(self) -> list[Codec]:
        """The formats in m-line order, described by rtpmap/fmtp or by the static payload table."""
        maps, fmtps = {}, {}
        for value in self.attributes("rtpmap"):
            pt, _, desc = value.partition(" ")
            maps[pt] = desc.strip()
        for value in self.attributes("fmtp"):
            pt, _, params = value.partition(" ")
            fmtps[pt] = params.strip()
        found = []
        for fmt in self.formats:
            codec = describe_format(fmt, maps.get(fmt), fmtps.get(fmt))
            if codec:
                found.append(codec)
        return found

    def keep_formats(self, keep: list[str]) -> None:
        """Drop every format not in `keep` (and the rtpmap/fmtp/rtcp-fb lines about it)."""
        kept = set(keep)
        self.formats = [fmt for fmt in self.formats if fmt in kept]
        self.lines = [line for line in self.lines if not dropped_format_line(line, kept)]

    @property
    def rtcp_port(self) -> int:
        """Where the far end wants RTCP: `a=rtcp:PORT` (RFC 3605) or the next port."""
        value = self.attribute("rtcp")
        if value:
            port = value.split(" ", 1)[0]
            if port.isdigit():
                return int(port)
        return self.port + 1

    def declined(self) -> Media:
        """This section refused (RFC 3264 §6): port 0, its kind, proto and formats kept, nothing below the m-line."""
        return Media(self.kind, 0, self.proto, list(self.formats))

    def serialize(self) -> list[str]:
        port = f"{self.port}/{self.port_count}" if self.port_count is not None else str(self.port)
        out = [f"m={self.kind} {port} {self.proto} {' '.join(self.formats)}".rstrip()]
        out.extend(f"{kind}={value}" for kind, value in self.lines)
        return out


@dataclass
class SessionDescription:
    """A whole body: the session-level lines (v=, o=, s=, c=, t=, a=, ...) in order, then the media sections."""

    lines: list[list[str]]
    media: list[Media]

    @classmethod
    def parse(cls, body: bytes | str) -> SessionDescription:
        text = body.decode("utf-8", "surrogateescape") if isinstance(body, (bytes, bytearray)) else body
        session: list[list[str]] = []
        media: list[Media] = []
        for raw in text.splitlines():
            line = raw.strip()
            if not line:
                continue
            kind, eq, value = line.partition("=")
            if not eq or len(kind) != 1:
                raise SdpError(f"not an SDP line: {line[:60]!r}")
            if kind == "c":
                connection_address([[kind, value]])  # raises on a malformed address line
            if kind == "m":
                media.append(parse_media_line(value))
            elif media:
                media[-1].lines.append([kind, value])
            else:
                session.append([kind, value])
        if not session or session[0] != ["v", "0"]:
            raise SdpError("SDP must start with v=0")
        if not any(kind == "o" for kind, _ in session):
            raise SdpError("SDP has no o= line")
        return cls(session, media)

    def serialize(self) -> bytes:
        out = [f"{kind}={value}" for kind, value in self.lines]
        for section in self.media:
            out.extend(section.serialize())
        return ("\r\n".join(out) + "\r\n").encode("utf-8", "surrogateescape")

    def copy(self) -> SessionDescription:
        """A copy to edit: every line list is new (strings are shared, being immutable)."""
        return SessionDescription(
            [list(line) for line in self.lines],
            [
                Media(m.kind, m.port, m.proto, list(m.formats), m.port_count, [list(line) for line in m.lines])
                for m in self.media
            ],
        )

    @property
    def connection(self) -> str | None:
        """The session-level c= address."""
        return connection_address(self.lines)

    def media_address(self, section: Media) -> str | None:
        """Where a section's media goes: its own c= line, else the session's."""
        return section.connection or self.connection

    def direction(self, section: Media) -> str:
        """The effective direction of a section: its own attribute, else the session's, else sendrecv."""
        return section.own_direction or direction_of(self.lines) or "sendrecv"

    def receives(self, section: Media) -> bool:
        """Whether the author of this body wants media on this section now (not rejected, not on hold)."""
        address = self.media_address(section)
        return (
            section.port != 0
            and address not in HOLD_ADDRESSES
            and address is not None
            and self.direction(section) in ("sendrecv", "recvonly")
        )

    def set_address(self, address: str) -> None:
        """Put `address` in the o= line and every c= line, except c= lines that say hold (0.0.0.0)."""
        family = "IP6" if ":" in address else "IP4"
        for line in self.lines:
            if line[0] == "o":
                parts = line[1].split(" ")
                if len(parts) == 6:
                    line[1] = " ".join(parts[:4] + [family, address])
        for line in self.lines + [line for section in self.media for line in section.lines]:
            if line[0] == "c" and connection_address([line]) not in HOLD_ADDRESSES:
                line[1] = f"IN {family} {address}"

    def remove_ice(self) -> None:
        """Drop ICE candidates and credentials, which name the phone's own addresses."""
        self.lines = [line for line in self.lines if not (line[0] == "a" and attribute_name(line[1]) in ICE_ATTRIBUTES)]
        for section in self.media:
            section.remove_attributes(*ICE_ATTRIBUTES)


def conformed(answer: SessionDescription, offer: list[Media]) -> SessionDescription:
    """`answer` with exactly the offer's m-lines in order (RFC 3264 §6): a section the answerer left out, answered
    with another kind, or that the offer declined, is declined; sections beyond the offer's are dropped. The same
    object when it already conforms."""
    media = []
    for index, offered in enumerate(offer):
        section = answer.media[index] if index < len(answer.media) else None
        if section is None or section.kind != offered.kind or (offered.port == 0 and section.port != 0):
            section = offered.declined()
        media.append(section)
    if len(media) == len(answer.media) and all(m is a for m, a in zip(media, answer.media, strict=True)):
        return answer
    return SessionDescription([list(line) for line in answer.lines], media)


def completed(offer: SessionDescription, before: list[Media]) -> SessionDescription:
    """A new offer keeps every m-line of the previous one (RFC 3264 §8): the ones it left out come back declined."""
    if len(offer.media) >= len(before):
        return offer
    return SessionDescription(offer.lines, offer.media + [m.declined() for m in before[len(offer.media) :]])


def parse_media_line(value: str) -> Media:
    parts = value.split()
    if len(parts) < 3:
        raise SdpError(f"bad m= line: {value[:60]!r}")
    port_text, _, count = parts[1].partition("/")
    if not port_text.isdigit() or int(port_text) > 65535 or (count and not count.isdigit()):
        raise SdpError(f"bad port in m= line: {value[:60]!r}")
    return Media(parts[0], int(port_text), parts[2], parts[3:], int(count) if count else None)


def connection_address(lines: list[list[str]]) -> str | None:
    """The address of the first c= line among `lines` ("IN IP4 192.0.2.1/127" gives "192.0.2.1")."""
    for kind, value in lines:
        if kind == "c":
            parts = value.split()
            if len(parts) == 3:
                return parts[2].split("/", 1)[0]
            raise SdpError(f"bad c= line: {value[:60]!r}")
    return None


def attribute_name(value: str) -> str:
    return value.partition(":")[0]


def attribute_values(lines: list[list[str]], name: str) -> list[str]:
    found = []
    for kind, value in lines:
        if kind == "a":
            key, _, rest = value.partition(":")
            if key == name:
                found.append(rest)
    return found


def direction_of(lines: list[list[str]]) -> str | None:
    for kind, value in lines:
        if kind == "a" and value in DIRECTIONS:
            return value
    return None


def dropped_format_line(line: list[str], kept: set[str]) -> bool:
    if line[0] != "a":
        return False
    name, _, rest = line[1].partition(":")
    return name in PER_FORMAT_ATTRIBUTES and rest.split(" ", 1)[0] not in kept and rest[:1] != "*"


def describe_format(fmt: str, rtpmap: str | None, fmtp: str | None) -> Codec | None:
    """A Codec for one format, or None when it is neither mapped nor static (or not a payload number)."""
    if not fmt.isdigit():
        return None
    payload = int(fmt)
    if rtpmap:
        name, _, rest = rtpmap.partition("/")
        rate, _, channels = rest.partition("/")
        if rate.isdigit():
            return Codec(payload, name, int(rate), int(channels) if channels.isdigit() else 1, fmtp)
    if payload in STATIC_PAYLOADS:
        return Codec(payload, *STATIC_PAYLOADS[payload], fmtp)
    return None


def is_ip_literal(address: str | None) -> TypeGuard[str]:
    if not address:
        return False
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True

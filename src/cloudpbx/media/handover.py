"""SDP for handing a call's media over to another phone (a transfer), without transcoding and without touching the
ports of the phone that stays.

Each leg keeps the body it last got from us. A transfer target is offered what the transferor was offered, narrowed
to the codecs the transferee settled on, so whatever the target picks the transferee already sends and decodes (a
target already in a call of its own gets that offer in the shape of its current session: its ports, its origin one
version newer); a phone left on hold by the transferor is taken off hold with its own body again, sendrecv and one
version newer (RFC 3264 section 8).
"""

from __future__ import annotations

from cloudpbx.media.sdp import DIRECTIONS, HOLD_ADDRESSES, SessionDescription, connection_address

SETTLED_KINDS = ("audio", "video")


def offer_for_target(transferor_view: bytes, transferee_view: bytes, address: str) -> bytes:
    """What the transferor was last sent, each section keeping only the formats also in what the transferee was
    last sent (the codecs of their call), sending both ways; `address` (the relay's) replaces a hold address."""
    offer = SessionDescription.parse(transferor_view)
    settled = SessionDescription.parse(transferee_view)
    for section, other in zip(offer.media, settled.media, strict=False):
        if section.kind in SETTLED_KINDS and section.port and other.port:
            common = [fmt for fmt in section.formats if fmt in other.formats]
            if common:
                section.keep_formats(common)
    return _sendrecv(offer, address).serialize()


def resumed(body: bytes, address: str) -> bytes:
    """`body` sending both ways again (at `address` where it said hold), its origin version one higher: a
    re-offer that takes a phone off hold."""
    return retargeted(body, body, address)


def retargeted(offer: bytes, current: bytes, address: str) -> bytes:
    """`offer`'s media (codecs, sending both ways) in the shape of `current`, the body a phone last got from us:
    its origin line one version newer and its ports, so the phone keeps its session and its media path."""
    sdp = _sendrecv(SessionDescription.parse(offer), address)
    was = SessionDescription.parse(current)
    origin = next((line[1].split(" ") for line in was.lines if line[0] == "o"), [])
    if len(origin) == 6 and origin[2].isdigit():
        origin[2] = str(int(origin[2]) + 1)
        for line in sdp.lines:
            if line[0] == "o":
                line[1] = " ".join(origin)
    for section, old in zip(sdp.media, was.media, strict=False):
        section.port = old.port
    return sdp.serialize()


def held(body: bytes) -> bool:
    """Whether the phone that was sent `body` was asked not to send audio (it is on hold)."""
    sdp = SessionDescription.parse(body)
    return any(section.kind == "audio" and section.port and not sdp.receives(section) for section in sdp.media)


def _sendrecv(sdp: SessionDescription, address: str) -> SessionDescription:
    """Every direction attribute made sendrecv and every hold address (c=0.0.0.0) `address`."""
    family = "IP6" if ":" in address else "IP4"
    for lines in [sdp.lines, *(section.lines for section in sdp.media)]:
        for line in lines:
            if line[0] == "a" and line[1] in DIRECTIONS:
                line[1] = "sendrecv"
            elif line[0] == "c" and connection_address([line]) in HOLD_ADDRESSES:
                line[1] = f"IN {family} {address}"
    return sdp

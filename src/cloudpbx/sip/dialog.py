"""Dialog state (RFC 3261 section 12): identifiers, sequence numbers, route set and remote target.

The B2BUA creates a `Dialog` for each leg once it answers (UAS) or gets an answer (UAC), registers it with the
core, and builds its in-dialog requests here; the core checks the remote CSeq and refreshes the target.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from cloudpbx.sip.headers import HeaderError, NameAddr
from cloudpbx.sip.message import Request, Response
from cloudpbx.sip.transport import Peer

TARGET_REFRESH = ("INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY", "REFER")


@dataclass
class Dialog:
    call_id: str
    local_tag: str
    remote_tag: str
    local_party: str  # our From in requests we send (name-addr with our tag)
    remote_party: str  # their To in requests we send (name-addr with their tag)
    remote_target: str  # the URI of their Contact: the Request-URI of our requests
    route_set: list[str]
    local_seq: int
    remote_seq: int | None
    peer: Peer  # where our requests go: the address their requests come from (NAT), or where we sent the INVITE
    local_contact: str  # our Contact URI
    handler: Callable[[Request, object], Awaitable[None] | None] | None = field(default=None, repr=False)

    @property
    def id(self) -> tuple[str, str, str]:
        return (self.call_id, self.local_tag, self.remote_tag)

    @classmethod
    def as_uas(cls, request: Request, local_tag: str, local_contact: str, peer: Peer) -> Dialog:
        """The dialog a response with `local_tag` creates for the request received from `peer` (12.1.1)."""
        return cls(
            call_id=request.call_id,
            local_tag=local_tag,
            remote_tag=request.from_.tag or "",
            local_party=f"{request.header('to')};tag={local_tag}",
            remote_party=request.header("from"),
            remote_target=_contact_uri(request),
            route_set=request.values("record-route"),
            local_seq=0,
            remote_seq=request.cseq.number,
            peer=peer,
            local_contact=local_contact,
        )

    @classmethod
    def as_uac(cls, request: Request, response: Response, peer: Peer, local_contact: str) -> Dialog:
        """The dialog a tagged 1xx/2xx to our `request` creates (12.1.2): the route set is reversed."""
        return cls(
            call_id=request.call_id,
            local_tag=request.from_.tag or "",
            remote_tag=response.to.tag or "",
            local_party=request.header("from"),
            remote_party=response.header("to"),
            remote_target=_contact_uri(response),
            route_set=list(reversed(response.values("record-route"))),
            local_seq=request.cseq.number,
            remote_seq=None,
            peer=peer,
            local_contact=local_contact,
        )

    def new_request(
        self,
        method: str,
        *,
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
        content_type: str | None = None,
    ) -> Request:
        """An in-dialog request (12.2.1.1), with the next local CSeq; the core adds the Via when sending it."""
        self.local_seq += 1
        return self._request(method, self.local_seq, headers, body, content_type)

    def ack(self, invite_cseq: int, *, body: bytes = b"", content_type: str | None = None) -> Request:
        """The ACK of a 2xx: CSeq number of the INVITE it acknowledges."""
        return self._request("ACK", invite_cseq, None, body, content_type)

    def _request(self, method: str, cseq: int, headers, body: bytes, content_type: str | None) -> Request:
        uri, routes = self._routing()
        request = Request(method, uri)
        for route in routes:
            request.add("Route", route)
        request.add("Max-Forwards", "70")
        request.add("From", self.local_party)
        request.add("To", self.remote_party)
        request.add("Call-ID", self.call_id)
        request.add("CSeq", f"{cseq} {method}")
        if method in TARGET_REFRESH:
            request.add("Contact", f"<{self.local_contact}>")
        for name, value in headers or ():
            request.add(name, value)
        if body:
            request.set("Content-Type", content_type or "application/sdp")
            request.body = body
        return request

    def _routing(self) -> tuple[str, list[str]]:
        """Request-URI and Route headers: loose routing keeps the target, strict routing puts the first hop
        in the Request-URI and the target last (12.2.1.1)."""
        if not self.route_set:
            return self.remote_target, []
        first = NameAddr.parse(self.route_set[0])
        if "lr" in first.uri.params:
            return self.remote_target, list(self.route_set)
        return str(first.uri), self.route_set[1:] + [f"<{self.remote_target}>"]

    def accepts(self, request: Request) -> bool:
        """Check an incoming in-dialog request's CSeq (12.2.2) and refresh the target; False means 500."""
        number = request.cseq.number
        if request.method not in ("ACK", "CANCEL"):
            if self.remote_seq is not None and number <= self.remote_seq:
                return False
            self.remote_seq = number
        if request.method in TARGET_REFRESH and request.contacts:
            self.remote_target = str(request.contacts[0].uri)
        return True

    def refresh(self, response: Response) -> None:
        """A 2xx to our target-refresh request carries their new Contact."""
        if response.contacts:
            self.remote_target = str(response.contacts[0].uri)


def _contact_uri(message: Request | Response) -> str:
    try:
        contacts = message.contacts
        if contacts:
            return str(contacts[0].uri)
    except HeaderError:
        pass
    if isinstance(message, Request):
        return str(message.from_.uri)
    raise HeaderError("a dialog-creating response needs a Contact")

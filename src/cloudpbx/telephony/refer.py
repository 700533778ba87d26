"""REFER as the transferor's phone sends it (RFC 3515), and the NOTIFYs that report on it.

`Referral.parse` reads the one Refer-To: the number to route (a sip/sips URI's user part, a tel URI's number) and,
for an attended transfer, the dialog named by its `Replaces` header parameter (RFC 3891: Call-ID, to-tag, from-tag,
as the transferor sees that dialog, so to-tag is our tag in it). Anything else is a `BadReferral` (400).

A REFER accepted with 202 makes an implicit subscription in the REFER's dialog: `Notifier` sends its NOTIFYs there,
`Event: refer` with a `message/sipfrag` body holding the status line of the transfer's new call, "100 Trying"
first, then the final status with `Subscription-State: terminated;reason=noresource`.
"""

from __future__ import annotations

from dataclasses import dataclass

from cloudpbx.sip.headers import HeaderError, NameAddr
from cloudpbx.sip.message import REASONS, Request
from cloudpbx.sip.transaction import ClientTransaction
from cloudpbx.sip.uri import UriError, unescape
from cloudpbx.telephony.leg import Leg

SIPFRAG = "message/sipfrag;version=2.0"
SUBSCRIPTION_S = 300  # the implicit subscription (RFC 3515 2.4.4): longer than a transfer rings, recall included


class BadReferral(ValueError):
    """A REFER we cannot act on: 400 with this reason."""


@dataclass(frozen=True)
class Replaces:
    """The dialog an attended transfer replaces, as our dialog id (call id, our tag, their tag)."""

    call_id: str
    to_tag: str
    from_tag: str

    @property
    def dialog_id(self) -> tuple[str, str, str]:
        return (self.call_id, self.to_tag, self.from_tag)

    @classmethod
    def parse(cls, value: str) -> Replaces:
        call_id, *params = (part.strip() for part in value.split(";"))
        tags = dict(param.partition("=")[::2] for param in params)
        if not call_id or not tags.get("to-tag") or not tags.get("from-tag"):
            raise BadReferral("Replaces needs a Call-ID, to-tag and from-tag")
        return cls(call_id, tags["to-tag"], tags["from-tag"])


@dataclass(frozen=True)
class Referral:
    """What a REFER asks for: `number` to route (blind), or the dialog to join with (`replaces`, attended)."""

    target: str  # the Refer-To URI as sent, for logs
    number: str
    replaces: Replaces | None

    @classmethod
    def parse(cls, request: Request) -> Referral:
        values = request.get_all("refer-to")
        if len(values) != 1:
            raise BadReferral("exactly one Refer-To is needed")
        try:
            uri = NameAddr.parse(values[0]).uri
        except (HeaderError, UriError) as exc:
            raise BadReferral(f"Refer-To is no URI ({str(exc)[:60]})") from None
        if uri.is_sip:
            number = unescape(uri.user or "")
            replaces = _replaces(uri.headers or "")
        elif uri.scheme == "tel":
            number, replaces = (uri.opaque or "").split(";", 1)[0], None
        else:
            raise BadReferral(f"Refer-To scheme {uri.scheme} is not routed")
        if not number and replaces is None:
            raise BadReferral("Refer-To names no number")
        return cls(str(uri), number, replaces)


def _replaces(headers: str) -> Replaces | None:
    """The Replaces header of a Refer-To URI's headers (`?Replaces=...&...`), %-escapes decoded."""
    for field in headers.split("&") if headers else ():
        name, _, value = field.partition("=")
        if unescape(name).strip().lower() == "replaces":
            return Replaces.parse(unescape(value))
    return None


class Notifier:
    """The NOTIFYs of one accepted REFER, sent in the transferor's dialog while it is up."""

    def __init__(self, transferor: Leg):
        self.transferor = transferor
        self.reported: set[int] = set()

    def progress(self, status: int) -> None:
        """A provisional status of the new call (100, 180), each once."""
        if status not in self.reported:
            self.reported.add(status)
            self._send(status, f"active;expires={SUBSCRIPTION_S}")

    def final(self, status: int) -> ClientTransaction | None:
        """The new call's final status; it ends the subscription. None when the transferor is gone."""
        return self._send(status, "terminated;reason=noresource")

    def _send(self, status: int, state: str) -> ClientTransaction | None:
        if self.transferor.ended or self.transferor.dialog is None:
            return None
        reason = REASONS.get(status, "Unknown")
        return self.transferor.send(
            "NOTIFY",
            body=f"SIP/2.0 {status} {reason}\r\n".encode(),
            content_type=SIPFRAG,
            headers=[("Event", "refer"), ("Subscription-State", state)],
        )

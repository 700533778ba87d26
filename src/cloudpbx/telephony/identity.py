"""Who places an inbound call, as the call sees it: an authenticated device (`auth.Identity`) or a carrier
(`carrier.CarrierIdentity`). The call asks its identity, never what kind it is, so the two differ only here."""

from __future__ import annotations

from typing import Protocol

from cloudpbx.accounts.tree import AccountNode
from cloudpbx.callflow.caller_id import CallerId
from cloudpbx.media.codecs import CodecPolicy
from cloudpbx.sip.message import Request
from cloudpbx.store import Doc
from cloudpbx.telephony.leg import Leg


class Admitted(Protocol):
    """What admission needs of the call it may refuse (`telephony.call.InboundCall`)."""

    call_id: str
    offer: bytes
    a: Leg

    @property
    def ended(self) -> bool: ...

    def early_media(self, body: bytes) -> None: ...

    async def hangup(self, cause: str) -> None: ...


class CallerIdentity(Protocol):
    """account: whose callflows route the call; device: the calling device, None for a carrier."""

    @property
    def account(self) -> AccountNode: ...

    @property
    def realm(self) -> str: ...

    @property
    def device(self) -> Doc | None: ...

    def destination(self, dialed: str) -> str:
        """The number the callflows route, from the Request-URI's user part."""
        ...

    def presented(self, request: Request) -> CallerId:
        """The caller ID callees see before the callflow changes it."""
        ...

    def codecs(self) -> CodecPolicy: ...

    def channel_vars(self) -> dict[str, object]:
        """What the caller's leg's CDR keeps under `custom_channel_vars`."""
        ...

    async def admit(self, call: Admitted) -> bool:
        """Whether the callflow may run; when not, the call has been refused."""
        ...

    async def finish(self) -> None:
        """The call is over, however it ended: give back what admission took."""
        ...

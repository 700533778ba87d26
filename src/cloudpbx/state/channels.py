"""Live calls (channels): the call engine adds and removes them, the API lists them."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Channel:
    uuid: str
    account_id: str
    direction: str
    caller_id_number: str
    destination: str
    answered: bool = False
    bridge_id: str | None = None
    extra: dict = field(default_factory=dict)

    def view(self) -> dict:
        return {
            "uuid": self.uuid,
            "direction": self.direction,
            "caller_id_number": self.caller_id_number,
            "destination": self.destination,
            "answered": self.answered,
            "bridge_id": self.bridge_id,
            **self.extra,
        }


class Channels:
    def __init__(self) -> None:
        self._channels: dict[str, Channel] = {}

    def add(self, channel: Channel) -> None:
        self._channels[channel.uuid] = channel

    def remove(self, uuid: str) -> None:
        self._channels.pop(uuid, None)

    def get(self, uuid: str) -> Channel | None:
        return self._channels.get(uuid)

    def of_accounts(self, account_ids: set[str]) -> list[Channel]:
        return [c for c in self._channels.values() if c.account_id in account_ids]

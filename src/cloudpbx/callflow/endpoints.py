"""Who an action rings: a device, a user's devices, a group's members, resolved into device targets.

Disabled or missing devices are skipped, and so is the calling device (KAZOO's `can_call_self` defaults to
false); a device reached twice (directly and through a user or group) rings once, with its first settings.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from typing import TypeGuard

from cloudpbx.accounts import devices
from cloudpbx.accounts.documents import Documents, enabled
from cloudpbx.accounts.kinds import DEVICE, KINDS
from cloudpbx.callflow.call import Target
from cloudpbx.store import Doc

log = logging.getLogger("cloudpbx.callflow")

DEFAULT_TIMEOUT_S = 20  # KAZOO's default ring time (?DEFAULT_TIMEOUT_S)
DEFAULT_WEIGHT = 20  # ring group members without a weight


@dataclass(frozen=True)
class Member:
    """One entry of a ring group, or of a group document: what to ring, how long, and its place in the order."""

    id: str
    type: str  # device | user | group
    timeout_s: int = DEFAULT_TIMEOUT_S
    delay_s: int = 0
    weight: int | None = None


def non_negative(value, default: int) -> int:
    """An integer setting of action data, or the default when it is missing or not a whole number >= 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else default


def _usable(doc: Doc | None, exclude: str | None) -> TypeGuard[Doc]:
    return doc is not None and enabled(doc) and doc["_id"] != exclude


class _Resolution:
    """One resolution: the account's devices are listed at most once however many users and groups it meets."""

    def __init__(self, documents: Documents, account_id: str, exclude: str | None, by_weight: bool):
        self.documents, self.account_id, self.exclude, self.by_weight = documents, account_id, exclude, by_weight
        self.targets: dict[str, Target] = {}
        self.weights: dict[str, int] = {}
        self._groups_seen: set[str] = set()
        self._devices: dict[str, Doc] | None = None

    async def add(self, member: Member) -> None:
        if member.type == "device":
            self._take(await self._device(member.id), member)
        elif member.type == "user":
            for device in await self._owned_by(member.id):
                self._take(device, member)
        elif member.type == "group" and member.id not in self._groups_seen:
            self._groups_seen.add(member.id)
            for sub in await self._group_members(member):
                await self.add(sub)

    def _take(self, device: Doc | None, member: Member) -> None:
        if _usable(device, self.exclude) and device["_id"] not in self.targets:
            self.targets[device["_id"]] = Target(self.account_id, device, member.timeout_s, member.delay_s)
            self.weights[device["_id"]] = member.weight or DEFAULT_WEIGHT

    async def _all_devices(self) -> dict[str, Doc]:
        if self._devices is None:
            self._devices = {doc["_id"]: doc for doc in await self.documents.list(DEVICE, self.account_id)}
        return self._devices

    async def _device(self, device_id: str) -> Doc | None:
        if self._devices is not None:
            return self._devices.get(device_id)
        return await self.documents.find(DEVICE, self.account_id, device_id)

    async def _owned_by(self, user_id: str) -> list[Doc]:
        return [doc for doc in (await self._all_devices()).values() if devices.owner_id(doc) == user_id]

    async def _group_members(self, member: Member) -> list[Member]:
        """A group document's endpoints, with the ring group member's timing; by weight for single strategy."""
        group = await self.documents.find(KINDS["groups"], self.account_id, member.id)
        if group is None:
            log.info("ring group member %s is not a group of account %s", member.id, self.account_id)
            return []
        subs = [
            _sub_member(ident, entry if isinstance(entry, dict) else {}, member)
            for ident, entry in (group.get("endpoints") or {}).items()
        ]
        if self.by_weight:
            subs.sort(key=lambda sub: sub.weight if isinstance(sub.weight, int) else float("inf"))
        return subs


def _sub_member(ident: str, entry: dict, member: Member) -> Member:
    """A group document's endpoint takes the ring group member's timing unless it sets its own."""
    return Member(
        ident,
        entry.get("type", "user"),
        non_negative(entry.get("timeout"), member.timeout_s),
        non_negative(entry.get("delay"), member.delay_s),
        entry.get("weight") or member.weight,
    )


def weighted_random(targets: list[Target], weights: dict[str, int]) -> list[Target]:
    """Heavier members tend to ring first (ring group strategy `weighted_random`)."""
    left, ordered = list(targets), []
    while left:
        pick = random.choices(left, weights=[weights.get(t.device_id, DEFAULT_WEIGHT) for t in left])[0]
        left.remove(pick)
        ordered.append(pick)
    return ordered


class Endpoints:
    def __init__(self, documents: Documents):
        self.documents = documents

    async def device(
        self, account_id: str, device_id: str, timeout_s: int, delay_s: int = 0, exclude: str | None = None
    ) -> list[Target]:
        return await self.members(account_id, [Member(device_id, "device", timeout_s, delay_s)], exclude=exclude)

    async def user(
        self, account_id: str, user_id: str, timeout_s: int, delay_s: int = 0, exclude: str | None = None
    ) -> list[Target]:
        return await self.members(account_id, [Member(user_id, "user", timeout_s, delay_s)], exclude=exclude)

    async def members(
        self, account_id: str, members: list[Member], *, exclude: str | None = None, order: str = "listed"
    ) -> list[Target]:
        """Device targets in member order; `order` "weight" sorts group documents' members by weight (single
        strategy), "weighted_random" shuffles the result by weight."""
        resolution = _Resolution(self.documents, account_id, exclude, by_weight=order != "listed")
        for member in members:
            await resolution.add(member)
        targets = list(resolution.targets.values())
        return weighted_random(targets, resolution.weights) if order == "weighted_random" else targets

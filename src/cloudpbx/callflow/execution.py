"""One run of a flow, as actions see it: the call and its route, what to ring, caller ID edits, branching.

An action returns the child key to continue with (a missing key falls back to `_`, a missing `_` ends the flow)
or STOP to end the flow at once (after an answered bridge or a SIP response).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from cloudpbx.accounts.callflows import Callflows
from cloudpbx.callflow.call import BridgeResult, Call, Strategy, Target
from cloudpbx.callflow.caller_id import CallerId
from cloudpbx.callflow.endpoints import Endpoints
from cloudpbx.callflow.lookup import Route

if TYPE_CHECKING:
    from cloudpbx.callflow.dialout import Dialout

log = logging.getLogger("cloudpbx.callflow")

Next = str | None
CONTINUE: Next = "_"
STOP: Next = None
MAX_BRANCHES = 50  # KAZOO's callflow.max_branch_count


def text(value) -> str:
    return value if isinstance(value, str) else ""


@dataclass(frozen=True)
class CallerIdEdits:
    """set_cid rewrites the name/number (empty: back to the original); prepend_cid puts prefixes before them."""

    name: str = ""
    number: str = ""
    name_prefix: str = ""
    number_prefix: str = ""

    def apply(self, original: CallerId) -> CallerId:
        return original.with_values(
            self.name_prefix + (self.name or original.name), self.number_prefix + (self.number or original.number)
        )


class Execution:
    def __init__(
        self,
        call: Call,
        route: Route,
        endpoints: Endpoints,
        callflows: Callflows,
        run_flow: Callable[[Execution, dict], Awaitable[None]],
        max_branches: int = MAX_BRANCHES,
        dialout: Dialout | None = None,
    ):
        self.call = call
        self._dialout = dialout
        self.route = route
        self.endpoints = endpoints
        self.callflows = callflows
        self.original_caller_id = call.caller_id
        self.edits = CallerIdEdits()
        self.node: dict = {}  # the node whose action is running
        self.branches_left = max_branches
        self.halted = False
        self.last_failure: BridgeResult | None = None
        self._run_flow = run_flow

    @property
    def account_id(self) -> str:
        return self.call.account_id

    @property
    def dialout(self) -> Dialout:
        """The carrier side (route plan, emergency calls): engines built without it run no carrier action."""
        if self._dialout is None:
            raise RuntimeError("this callflow engine calls no carriers")
        return self._dialout

    @property
    def caller_device_id(self) -> str | None:
        return self.call.caller_device["_id"] if self.call.caller_device else None

    async def bridge(self, targets: Sequence[Target], strategy: Strategy, timeout_s: int) -> BridgeResult:
        result = await self.call.bridge(targets, strategy, timeout_s)
        if not result.answered:
            self.last_failure = result
        return result

    def failure_branch(self, result: BridgeResult) -> str | None:
        """The child for a failed bridge: keyed by its cause, else by `sip:<code>`; None when neither exists."""
        children = self.node.get("children") or {}
        for key in (result.cause, f"sip:{result.code}" if result.code else ""):
            if key and isinstance(children.get(key), dict):
                return key
        return None

    async def ring(self, targets: Sequence[Target], strategy: Strategy, timeout_s: int) -> Next:
        """One bridge (device, user): STOP once answered, else the failure branch or `_`."""
        if not targets:
            log.info("call %s: %s has nothing to ring", self.call.call_id, self.node.get("module"))
            return CONTINUE
        result = await self.bridge(targets, strategy, timeout_s)
        if result.answered or self.call.ended:
            return STOP
        return self.failure_branch(result) or CONTINUE

    async def branch(self, flow: dict) -> None:
        """Run another callflow's flow; the caller's flow then goes on. Too many branches end the whole run."""
        if self.branches_left <= 0:
            log.warning("call %s: more than %d callflow branches, stopping", self.call.call_id, MAX_BRANCHES)
            self.halted = True
            return
        self.branches_left -= 1
        await self._run_flow(self, flow)

    def edit_caller_id(self, **changes: str) -> None:
        self.edits = replace(self.edits, **changes)
        self.call.caller_id = self.edits.apply(self.original_caller_id)

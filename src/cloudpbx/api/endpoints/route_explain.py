"""/v2/accounts/{A}/route_explain?number=N[&device_id=D][&use_local_resources=true][&flags=a,b]: every decision a
call from the account (or one of its devices) to a number would meet, without placing it. The answer is
`Plans.plan`'s, the very plan the `offnet`/`resources` callflow actions follow, and for an emergency call the
caller ID it would present or its refusal (`EmergencyCallerIds.choose`, as the call asks it). Account admins only
(an ancestor's admins too, as for every account path); a device must be the account's own. Only system admins see
where the platform's own (global) carriers' gateways are; an account's own carriers are shown in full."""

from __future__ import annotations

import re

from cloudpbx.accounts.kinds import DEVICE
from cloudpbx.api.context import Context, Reply
from cloudpbx.api.endpoints.base import ACCOUNT, Endpoint
from cloudpbx.api.paths import Op, Query, Shape
from cloudpbx.errors import Invalid, Missing
from cloudpbx.routing.plan import CARRIERS, LOCAL, Plan
from cloudpbx.store import is_id

DIALLED = re.compile(r"\+?[0-9*#]{1,64}")
FLAG = re.compile(r"[^\s,]{1,128}")
MAX_FLAGS = 32
BOOLEAN = ("true", "false")

TEXT = {"type": "string"}
MAYBE_TEXT = {"type": "string", "nullable": True}
FLAG_LIST = {"type": "array", "items": TEXT}
STEP = {
    "type": "object",
    "required": ["step", "number", "rule"],
    "properties": {
        "step": {"type": "string", "description": "dialled, dial_plan, e164, shortdial, ..."},
        "number": TEXT,
        "rule": MAYBE_TEXT,
    },
}
ACTION = {"type": "string", "nullable": True, "description": "the class's action as set there; null when unset"}
RESTRICTIONS = {
    "type": "object",
    "description": "The call restrictions of the number's class at each level, merged as KAZOO does",
    "required": ["classifier", "levels", "closed_groups", "barred", "reason"],
    "properties": {
        "classifier": MAYBE_TEXT,
        "levels": {"type": "object", "properties": {level: ACTION for level in ("account", "owner", "device")}},
        "closed_groups": ACTION,
        "barred": {"type": "boolean"},
        "reason": TEXT,
    },
}
ON_NET = {
    "type": "object",
    "nullable": True,
    "description": "The number is held by an account of the platform (null: by none). `account_id` is given only "
    "when the holder is this account or one of its descendants",
    "required": ["number", "account_id", "same_account", "delivered", "reason"],
    "properties": {
        "number": TEXT,
        "account_id": MAYBE_TEXT,
        "same_account": {"type": "boolean"},
        "delivered": {"type": "boolean", "description": "delivered inside; false when forced outbound"},
        "reason": TEXT,
    },
}
RULE = {"type": "object", "required": ["rule", "matched"], "properties": {"rule": TEXT, "matched": {"type": "boolean"}}}
CARRIER = {
    "type": "object",
    "required": ["id", "name", "global", "weight_cost", "classifier", "verdict", "rules"],
    "properties": {
        "id": TEXT,
        "name": TEXT,
        "global": {"type": "boolean"},
        "weight_cost": {"type": "integer"},
        "classifier": MAYBE_TEXT,
        "verdict": {"type": "string", "description": "`chosen`, or the first test the carrier failed"},
        "rules": {"type": "array", "items": RULE},
    },
}
GATEWAY = {
    "type": "object",
    "description": "For callers other than system admins a global carrier's gateway is redacted: no server or port, "
    "and its dial string keeps only the number sent",
    "required": [
        "carrier_id",
        "carrier_name",
        "gateway",
        "server",
        "port",
        "matched",
        "dial_string",
        "emergency",
        "redacted",
    ],
    "properties": {
        "carrier_id": TEXT,
        "carrier_name": TEXT,
        "gateway": {"type": "integer", "description": "the gateway's position in the carrier's gateways"},
        "server": MAYBE_TEXT,
        "port": {"type": "integer", "nullable": True},
        "matched": TEXT,
        "dial_string": TEXT,
        "emergency": {"type": "boolean"},
        "redacted": {"type": "boolean", "description": "the platform's gateway settings are left out"},
    },
}
ROUTE = {
    "type": "object",
    "nullable": True,
    "description": "The carrier decision (null when the call ends before carriers are looked at)",
    "required": ["dialled", "number", "steps", "classification", "emergency", "cause", "carriers", "endpoints"],
    "properties": {
        "dialled": TEXT,
        "number": TEXT,
        "steps": {"type": "array", "items": STEP},
        "classification": TEXT,
        "emergency": {"type": "boolean"},
        "cause": MAYBE_TEXT,
        "carriers": {"type": "array", "items": CARRIER, "description": "every carrier of the pool, in order"},
        "endpoints": {"type": "array", "items": GATEWAY, "description": "the gateways a call tries, in order"},
    },
}
LIMIT = {
    "type": "object",
    "nullable": True,
    "required": ["allowed", "billing", "trunk", "soft_limit"],
    "properties": {
        "allowed": {"type": "boolean"},
        "billing": TEXT,
        "trunk": MAYBE_TEXT,
        "soft_limit": {"type": "boolean"},
    },
}
LIMITS = {
    "type": "object",
    "nullable": True,
    "description": "The trunk limits decision over the trunks in use now (no trunk is taken); null without carriers",
    "required": ["allowed", "reason", "account", "reseller"],
    "properties": {"allowed": {"type": "boolean"}, "reason": MAYBE_TEXT, "account": LIMIT, "reseller": LIMIT},
}
EMERGENCY = {
    "type": "object",
    "nullable": True,
    "description": "What an emergency call to carriers would present, or why it would be refused (null: no "
    "emergency call reaches carriers)",
    "required": ["caller_id_name", "caller_id_number", "e911", "refused", "reason", "code", "cause"],
    "properties": {
        "caller_id_name": TEXT,
        "caller_id_number": TEXT,
        "e911": {"type": "boolean", "description": "the number has an E911 address in the account (else flagged)"},
        "refused": {"type": "boolean"},
        "reason": TEXT,
        "code": {"type": "integer", "nullable": True, "description": "the SIP status of a refusal"},
        "cause": MAYBE_TEXT,
    },
}
EXPLAINED = {
    "type": "object",
    "required": [
        "account_id",
        "device_id",
        "dialled",
        "number",
        "steps",
        "caller_id_number",
        "flags",
        "pool",
        "restrictions",
        "on_net",
        "route",
        "limits",
        "emergency",
        "outcome",
        "cause",
    ],
    "properties": {
        "account_id": TEXT,
        "device_id": MAYBE_TEXT,
        "dialled": TEXT,
        "number": {"type": "string", "description": "the number the carriers' rules see"},
        "steps": {"type": "array", "items": STEP},
        "caller_id_number": MAYBE_TEXT,
        "flags": FLAG_LIST,
        "pool": {"type": "string", "enum": ["global", "local"]},
        "restrictions": RESTRICTIONS,
        "on_net": ON_NET,
        "route": ROUTE,
        "limits": LIMITS,
        "emergency": EMERGENCY,
        "outcome": {"type": "string", "enum": ["barred", "on_net", "no_route", "limits_denied", "carriers"]},
        "cause": {**MAYBE_TEXT, "description": "the hangup cause when the plan ends the call"},
    },
}
PARAMETERS = (
    Query("number", {"type": "string", "pattern": f"^{DIALLED.pattern}$"}, "the number as dialled", required=True),
    Query("device_id", {"type": "string", "pattern": "^[0-9a-f]{32}$"}, "the calling device, one of the account's"),
    Query("use_local_resources", {"type": "string", "enum": list(BOOLEAN)}, "the account's own carriers"),
    Query("flags", {"type": "string"}, "outbound flags of the call, comma separated"),
)


def _number(ctx: Context) -> str:
    number = ctx.query.get("number")
    if number is None:
        raise Invalid.field("number", "required", "Field is required but missing")
    if not DIALLED.fullmatch(number):
        raise Invalid.field("number", "pattern", "a number as dialled: digits, * or #, with an optional leading +")
    return number


async def _device(ctx: Context) -> dict | None:
    device_id = ctx.query.get("device_id")
    if device_id is None:
        return None
    if not is_id(device_id):
        raise Invalid.field("device_id", "pattern", "a device id: 32 lower case hex characters")
    device = await ctx.platform.documents.find(DEVICE, ctx.account_id, device_id)
    if device is None:
        raise Missing(device_id)
    return device


def _flags(ctx: Context) -> list[str]:
    flags = [flag for value in (v for k, v in ctx.query.multi_items() if k == "flags") for flag in value.split(",")]
    flags = [flag.strip() for flag in flags if flag.strip()]
    if len(flags) > MAX_FLAGS or not all(FLAG.fullmatch(flag) for flag in flags):
        raise Invalid.field("flags", "pattern", f"at most {MAX_FLAGS} flags of 1 to 128 characters, comma separated")
    return flags


def _local(ctx: Context) -> bool:
    value = ctx.query.get("use_local_resources", "false")
    if value not in BOOLEAN:
        raise Invalid.field("use_local_resources", "type", "true or false")
    return value == "true"


class RouteExplain(Endpoint):
    noun = "route_explain"
    shapes = (
        Shape(
            f"{ACCOUNT}/route_explain",
            {
                "GET": Op(
                    "Explain the route of a call to a number, without placing it", reply=EXPLAINED, query=PARAMETERS
                )
            },
        ),
    )

    def user_may(self, ctx: Context) -> bool:
        """Admins only: it shows the account's restrictions, carriers and limits."""
        return False

    async def handle(self, ctx: Context) -> Reply:
        number, flags, local = _number(ctx), _flags(ctx), _local(ctx)
        device = await _device(ctx)
        plan = await ctx.platform.plans.plan(ctx.account_id, number, device, use_local_resources=local, flags=flags)
        explained = plan.explain(platform_view=ctx.who.superduper and ctx.who.is_admin)
        explained["emergency"] = await _emergency(ctx, plan, device)
        return Reply(explained)


async def _emergency(ctx: Context, plan: Plan, device: dict | None) -> dict | None:
    """The identity an emergency call planned to carriers would get, chosen as the call chooses it."""
    if plan.outcome != CARRIERS or plan.decision is None or not plan.decision.emergency:
        return None
    identity = await ctx.platform.emergency_caller_ids.choose(ctx.account_id, device, local=plan.pool == LOCAL)
    return {
        "caller_id_name": identity.caller_id.name,
        "caller_id_number": identity.caller_id.number,
        "e911": identity.e911,
        "refused": identity.refused,
        "reason": identity.reason,
        "code": identity.code if identity.refused else None,
        "cause": identity.cause if identity.refused else None,
    }


ENDPOINT = RouteExplain()

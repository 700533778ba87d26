"""/v2/accounts/{A}/phone_numbers: an account's numbers, their features, the pool and the classifiers.

Account paths: the listing (or a pool search with `prefix`), `{N}` CRUD, `{N}/activate|reserve|identify|move`,
`collection[/activate]` for many numbers at once, `classifiers[/{N}]` and `carriers_info`.
Top-level paths: `/v2/phone_numbers?prefix=` searches the pool, `classifiers[/{N}]`, and `{N}` lets superduper
callers look at, add to the pool (PUT) or remove (DELETE) any number.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar

from cloudpbx import schemas
from cloudpbx.api import listing
from cloudpbx.api.context import Context, Reply
from cloudpbx.api.endpoints.base import ACCOUNT, Endpoint
from cloudpbx.api.paths import Arg, Op, Shape
from cloudpbx.errors import Failure, Invalid
from cloudpbx.numbers import classifiers, failures, registry
from cloudpbx.numbers.manager import Actor, ClientError
from cloudpbx.store import Doc, is_id

E164_PREFIX = re.compile(r"^\+\d{1,15}$")
DIALLED = re.compile(r"\+?[0-9*#]{1,64}")  # what a phone dials, the numbers classifiers are for
NANP_COUNTRIES = ("US", "CA")
MAXIMAL_PREFIX_LENGTH = 10  # the pool is searched by any leading digits, up to a whole national number
CONFIG = "number_manager"


def _actor(ctx: Context) -> Actor:
    return Actor(ctx.who.account_id, ctx.who.superduper)


def _number_reply(doc: Doc, status: int = 200) -> Reply:
    reply = Reply(registry.public(doc), status=status, revision=doc.get("_rev"))
    if status == 201:
        reply.headers["location"] = doc["_id"]
    return reply


def _filterable(doc: Doc) -> Doc:
    """What listing filters look at: the entry, the public settings, and the times `created_from` & co. compare."""
    public = {k: v for k, v in doc.items() if not k.startswith(("_", "pvt_"))}
    return dict(
        public, **registry.summary(doc), pvt_created=doc.get("pvt_created"), pvt_modified=doc.get("pvt_modified")
    )


def _whole(ctx: Context, key: str, default: int, minimum: int) -> int:
    raw = ctx.query.get(key)
    return default if raw is None else listing.integer(key, raw, minimum, schemas.INT_MAX)


def _search_prefix(ctx: Context) -> str:
    """An E.164 prefix: given as such (`%2B1415`), or national digits of a North American country (`415`)."""
    raw = ctx.query.get("prefix", "")
    if raw.startswith(" "):  # an unencoded "+" arrives as a space
        raw = "+" + raw
    raw = "".join(raw.split())
    if not raw:
        raise Invalid.field("prefix", "required", "A number prefix is required, e.g. 415 or +1415")
    if not raw.startswith("+"):
        country = ctx.query.get("country", "US").upper()
        if country not in NANP_COUNTRIES:
            raise Invalid.field(
                "country", "enum", "Search other countries with an E.164 prefix such as +44", value=country
            )
        raw = "+1" + raw
    if not E164_PREFIX.match(raw):
        raise Invalid.field("prefix", "pattern", "A prefix is digits, optionally after a +", value=raw)
    return raw


def _collection_numbers(data: Any) -> list[str]:
    numbers = data.get("numbers") if isinstance(data, dict) else None
    if numbers is None:
        raise Invalid.field("numbers", "required", "list of numbers missing")
    if not isinstance(numbers, list) or not all(isinstance(n, str) for n in numbers):
        raise Invalid.field("numbers", "type", "numbers must be a list of strings")
    if not numbers:
        raise Invalid.field("numbers", "minItems", "minimum 1 number required")
    if len({classifiers.normalize(n) for n in numbers}) != len(numbers):
        raise Invalid.field("numbers", "uniqueItems", "some numbers appear twice")
    return numbers


OBJECT = {"type": "object"}
FOUND = {"type": "array", "items": {"type": "object", "properties": {"number": {"type": "string"}}}}
HOLDINGS = {"type": "object", "properties": {"numbers": OBJECT, "cascade_quantity": {"type": "integer"}}}
MANY = {
    "type": "object",
    "required": ["numbers"],
    "properties": {"numbers": {"type": "array", "items": {"type": "string"}, "minItems": 1, "uniqueItems": True}},
}
SORTED = {"type": "object", "properties": {"success": OBJECT, "error": OBJECT}}
NUMBER = "phone_numbers"


TEXT = {"type": "string"}
CLASSIFIER = {
    "type": "object",
    "required": ["regex", "friendly_name"],
    "properties": {"regex": TEXT, "friendly_name": TEXT},
}
CLASSIFIERS = {"type": "object", "additionalProperties": CLASSIFIER}
CLASSIFIED = {
    "type": "object",
    "required": ["number", "e164"],
    "properties": {"number": TEXT, "e164": TEXT, "name": TEXT, "regex": TEXT, "friendly_name": TEXT},
}


def _classifier_shapes(base: str) -> tuple[Shape, ...]:
    return (
        Shape(f"{base}/classifiers", {"GET": Op("The number classifiers in matching order", reply=CLASSIFIERS)}),
        Shape(
            f"{base}/classifiers/{{number}}",
            {"GET": Op("The class of a number (only number and e164 when none matches)", reply=CLASSIFIED)},
        ),
    )


class PhoneNumbers(Endpoint):
    noun = "phone_numbers"
    args: ClassVar[Mapping[str, Arg]] = {
        "number": Arg(description="a phone number, E.164 (`%2B14155550100`) or as dialled")
    }
    shapes = (
        Shape(
            f"{ACCOUNT}/phone_numbers",
            {
                "GET": Op(
                    "The account's numbers, or with `prefix` available numbers of the pool",
                    reply={"anyOf": [HOLDINGS, FOUND]},
                )
            },
        ),
        *_classifier_shapes(f"{ACCOUNT}/phone_numbers"),
        Shape(f"{ACCOUNT}/phone_numbers/carriers_info", {"GET": Op("Carriers and creation states", reply=OBJECT)}),
        Shape(
            f"{ACCOUNT}/phone_numbers/collection",
            {
                "PUT": Op("Add many numbers", MANY, SORTED, 201),
                "POST": Op("Replace many numbers", MANY, SORTED),
                "PATCH": Op("Change many numbers", MANY, SORTED),
                "DELETE": Op("Release many numbers", MANY, SORTED),
            },
        ),
        Shape(f"{ACCOUNT}/phone_numbers/collection/activate", {"PUT": Op("Buy many numbers", MANY, SORTED, 201)}),
        Shape(
            f"{ACCOUNT}/phone_numbers/{{number}}",
            {
                "GET": Op("Read a number of the account", reply=NUMBER),
                "PUT": Op("Add a number to the account", NUMBER, NUMBER, 201, body_optional=True),
                "POST": Op("Replace a number's settings", NUMBER, NUMBER),
                "PATCH": Op("Change a number's settings", OBJECT, NUMBER),
                "DELETE": Op("Release a number", reply=NUMBER),
            },
        ),
        Shape(
            f"{ACCOUNT}/phone_numbers/{{number}}/activate",
            {"PUT": Op("Buy a number", NUMBER, NUMBER, 201, body_optional=True)},
        ),
        Shape(f"{ACCOUNT}/phone_numbers/{{number}}/reserve", {"PUT": Op("Reserve a number", reply=NUMBER, status=201)}),
        Shape(f"{ACCOUNT}/phone_numbers/{{number}}/identify", {"GET": Op("Who holds a number", reply=OBJECT)}),
        Shape(
            f"{ACCOUNT}/phone_numbers/{{number}}/move",
            {
                "POST": Op(
                    "Move a number to another account",
                    {"type": "object", "required": ["to"], "properties": {"to": {"type": "string"}}},
                    NUMBER,
                )
            },
        ),
        Shape("phone_numbers", {"GET": Op("Available numbers of the pool by prefix", reply=FOUND)}),
        *_classifier_shapes("phone_numbers"),
        Shape(
            "phone_numbers/{number}",
            {
                "GET": Op("Any number (system administrators)", reply=NUMBER),
                "PUT": Op("Add a number to the pool (system administrators)", NUMBER, NUMBER, 201, body_optional=True),
                "DELETE": Op("Remove a number from the system (system administrators)", reply=NUMBER),
            },
        ),
    )

    async def additions(self, ctx: Context) -> dict[tuple[str, str], int] | None:
        """Numbers added to an account (one, or a collection's `numbers`) count by their classifier; a changed
        number adds the features it turns on."""
        args = ctx.args
        if not args or args[0] == "classifiers":
            return None
        data = ctx.data if isinstance(ctx.data, dict) else {}
        if ctx.method in ("POST", "PATCH") and len(args) == 1 and args[0] != "collection":
            return await ctx.platform.service_plans.feature_additions(
                ctx.account_id, args[0], data, ctx.method == "PATCH"
            )
        if ctx.method != "PUT" or args[-1] in ("reserve", "identify"):
            return {}
        numbers = data.get("numbers", []) if args[0] == "collection" else [args[0]]
        if not isinstance(numbers, list):
            return {}
        return await ctx.platform.service_plans.number_additions(ctx.account_id, numbers)

    async def handle(self, ctx: Context) -> Reply:
        args = ctx.args
        if not args:
            return await (self._list(ctx) if ctx.account and "prefix" not in ctx.query else self._search(ctx))
        if args[0] == "classifiers":
            return await self._classifiers(ctx, args[1] if len(args) == 2 else None)
        if ctx.account is None:
            return await self._system_number(ctx, args[0])
        if args[0] == "collection":
            return await self._collection(ctx, activate=len(args) == 2)
        if args == ["carriers_info"]:
            return await self._carriers_info(ctx)
        if len(args) == 2:
            return await self._number_action(ctx, args[0], args[1])
        return await self._number(ctx, args[0])

    # Listing and searching ------------------------------------------------------------------------------------------

    async def _list(self, ctx: Context) -> Reply:
        """The account's numbers keyed by number, filtered like any listing and paged by number."""
        docs, cascade = await ctx.platform.numbers.holdings(ctx.account_id)
        preds = listing.predicates(ctx)
        start = classifiers.normalize(ctx.query["start_key"]) if ctx.query.get("start_key") else None
        rows = [
            (d["_id"], registry.summary(d))
            for d in docs
            if (not start or d["_id"] >= start) and all(p(_filterable(d)) for p in preds)
        ]
        size = listing.page_size(ctx)
        paging: dict[str, Any] = {}
        if size is not None:
            if len(rows) > size:
                paging["next_start_key"] = rows[size][0]
                rows = rows[:size]
            if start:
                paging["start_key"] = start
        paging["page_size"] = len(rows)
        return Reply({"numbers": dict(rows), "cascade_quantity": cascade}, paging=paging)

    async def _search(self, ctx: Context) -> Reply:
        """Available pool numbers by prefix; `quantity` of them (capped by configuration) after `offset`."""
        prefix = _search_prefix(ctx)
        cap = await ctx.platform.configs.value(CONFIG, "maximum_search_quantity", 500)
        quantity = min(_whole(ctx, "quantity", 1, 1), cap if isinstance(cap, int) and cap > 0 else 500)
        offset = _whole(ctx, "offset", 0, 0)
        found = await ctx.platform.numbers.search(prefix, quantity, offset)
        return Reply([{"number": number, "state": "available"} for number in found])

    async def _classifiers(self, ctx: Context, number: str | None) -> Reply:
        """The classifiers in use (system config `number_manager.classifiers`, else the defaults) in matching
        order, or the one a number falls in (only `number` and `e164` when none matches, as KAZOO answers)."""
        if number is None:
            return Reply(await ctx.platform.classifiers.listing())
        if not DIALLED.fullmatch(number):
            raise Invalid.field(
                "number", "pattern", "A number is up to 64 digits, * or #, after an optional +", value=number
            )
        return Reply(await ctx.platform.classifiers.describe(number))

    async def _carriers_info(self, ctx: Context) -> Reply:
        states = await ctx.platform.numbers.creation_states(_actor(ctx))
        return Reply(
            {
                "maximal_prefix_length": MAXIMAL_PREFIX_LENGTH,
                "usable_carriers": ["local"],
                "usable_creation_states": states,
            }
        )

    # One number ------------------------------------------------------------------------------------------------------

    async def _number(self, ctx: Context, number: str) -> Reply:
        numbers = ctx.platform.numbers
        if ctx.method == "GET":
            return _number_reply(await numbers.get(ctx.account_id, number))
        if ctx.method == "PUT":
            return _number_reply(await numbers.add(_actor(ctx), ctx.account_id, number, ctx.data), 201)
        if ctx.method in ("POST", "PATCH"):
            return _number_reply(await numbers.update(ctx.account_id, number, ctx.data, patch=ctx.method == "PATCH"))
        return _number_reply(await self._release(ctx, number))

    async def _release(self, ctx: Context, number: str) -> Doc:
        released_state = await ctx.platform.configs.value(CONFIG, "released_state", "available")
        return await ctx.platform.numbers.release(
            _actor(ctx), ctx.account_id, number, hard=ctx.flag("hard"), released_state=released_state
        )

    async def _number_action(self, ctx: Context, number: str, action: str) -> Reply:
        numbers, actor = ctx.platform.numbers, _actor(ctx)
        if action == "identify":
            return Reply(await numbers.identify(actor, number))
        if action == "activate":
            return _number_reply(await numbers.activate(actor, ctx.account_id, number, ctx.data), 201)
        if action == "reserve":
            return _number_reply(await numbers.reserve(actor, ctx.account_id, number), 201)
        destination = ctx.value("to")
        if not is_id(destination):
            raise Invalid.field("to", "required", "The id of the account to move the number to is required")
        return _number_reply(await numbers.move(actor, number, ctx.account_id, destination))

    async def _system_number(self, ctx: Context, number: str) -> Reply:
        """Any number, for superduper callers: look at it, add it to the pool, or remove it from the system."""
        ctx.require_superduper()
        numbers = ctx.platform.numbers
        if ctx.method == "GET":
            doc = await numbers.inspect(number)
            return Reply(dict(registry.public(doc), assigned_to=doc.get("pvt_assigned_to")), revision=doc["_rev"])
        if ctx.method == "PUT":
            return _number_reply(await numbers.add(_actor(ctx), None, number, ctx.data), 201)
        return _number_reply(await numbers.purge(number))

    # Many numbers ----------------------------------------------------------------------------------------------------

    async def _collection(self, ctx: Context, activate: bool) -> Reply:
        """One operation on each listed number, each on its own: the reply sorts them into success and error."""
        wanted = _collection_numbers(ctx.data)
        rest = {k: v for k, v in ctx.data.items() if k != "numbers"}
        operation = self._collection_operation(ctx, rest, activate)
        success, errors = {}, {}
        for number in wanted:
            try:
                doc = await operation(number)
            except Failure as failure:
                errors[number] = failures.as_entry(failure, number)
            else:
                success[doc["_id"]] = registry.public(doc)
        body = {"success": success, "error": errors}
        if not success:
            raise ClientError(body)
        return Reply(body, status=201 if ctx.method == "PUT" else 200)

    def _collection_operation(self, ctx: Context, rest: Doc, activate: bool) -> Callable[[str], Awaitable[Doc]]:
        numbers, actor, account_id = ctx.platform.numbers, _actor(ctx), ctx.account_id
        if activate:
            return lambda number: numbers.activate(actor, account_id, number, rest)
        if ctx.method == "PUT":
            return lambda number: numbers.add(actor, account_id, number, rest)
        if ctx.method == "DELETE":
            return lambda number: self._release(ctx, number)
        return lambda number: numbers.update(account_id, number, rest, patch=ctx.method == "PATCH")


ENDPOINT = PhoneNumbers()

"""One rate of a deck as stored (integer units and seconds) and the checks that turn a client's fields into one.

The same checks serve a JSON rate and a CSV row: each field is parsed on its own and a failure names the field
and the rule, so a deck upload can say which line and field are wrong. Money arrives in dollars and is kept in
units (1 dollar = 10000 units); an amount finer than one unit is refused rather than rounded away.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from cloudpbx.billing.cost import DEFAULT_INCREMENT_S, Pricing

UNITS_PER_DOLLAR = 10_000
MAX_DOLLARS = Decimal(100_000)  # per minute or per call: anything above is a typing error
MAX_SECONDS = 86_400
DECK = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,49}")
DECK_RULE = "1 to 50 letters, digits, '_', '.' or '-', starting with a letter or digit"
AMOUNT = re.compile(r"[0-9]+(\.[0-9]*)?|\.[0-9]+")  # as text (a CSV cell): plain decimal dollars
PREFIX = re.compile(r"\+?[0-9]{1,20}")
DIRECTIONS = ("inbound", "outbound", "both")
TEXT_LIMIT = 256
# KAZOO's rate fields that a deck here does not use (routing by rate is not done): accepted in a CSV and ignored
IGNORED_COLUMNS = frozenset(
    {"account_id", "carrier", "caller_id_numbers", "internal_rate_cost", "options", "rate_version", "routes"}
)


@dataclass(frozen=True, slots=True)
class Rate:
    id: str
    ratedeck_id: str
    prefix: str
    direction: str  # inbound, outbound or both
    iso_country_code: str
    description: str
    rate_name: str
    rate_cost: int  # units per minute
    rate_increment: int
    rate_minimum: int
    rate_surcharge: int  # units per call
    rate_nocharge_time: int
    weight: int  # 1 is preferred over 100 among rates of the same prefix and direction

    @property
    def pricing(self) -> Pricing:
        return Pricing(
            self.rate_cost, self.rate_increment, self.rate_minimum, self.rate_surcharge, self.rate_nocharge_time
        )

    def view(self) -> dict[str, Any]:
        """The rate as clients read it: money in dollars, direction as KAZOO's list."""
        out = asdict(self)
        out["rate_cost"] = dollars(self.rate_cost)
        out["rate_surcharge"] = dollars(self.rate_surcharge)
        out["direction"] = ["inbound", "outbound"] if self.direction == "both" else [self.direction]
        return out


def dollars(units: int) -> float:
    return units / UNITS_PER_DOLLAR


class FieldError(ValueError):
    def __init__(self, rule: str, message: str):
        super().__init__(message)
        self.rule = rule
        self.message = message


def _money(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise FieldError("type", "must be an amount in dollars")
    if isinstance(value, str) and not AMOUNT.fullmatch(value.strip()):
        raise FieldError("type", "must be an amount in dollars, such as 0.0125")
    try:
        amount = Decimal(value.strip() if isinstance(value, str) else str(value))
    except InvalidOperation:
        raise FieldError("type", "must be an amount in dollars") from None
    if not amount.is_finite() or amount < 0 or amount > MAX_DOLLARS:
        raise FieldError("range", f"must be an amount from 0 to {MAX_DOLLARS} dollars")
    units = amount * UNITS_PER_DOLLAR
    if units != units.to_integral_value():
        raise FieldError("precision", "must be in whole units of 0.0001 dollars")
    return int(units)


def _whole(low: int, high: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
            value = int(value.strip())
        elif isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise FieldError("type", "must be a whole number")
        if not low <= value <= high:
            raise FieldError("range", f"must be from {low} to {high}")
        return value

    return parse


def _text(limit: int) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if not isinstance(value, str):
            raise FieldError("type", "must be text")
        if len(value) > limit or any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise FieldError("format", f"must be at most {limit} printable characters")
        return value

    return parse


def _prefix(value: Any) -> str:
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else value
    if not isinstance(text, str) or not PREFIX.fullmatch(text.strip()):
        raise FieldError("format", "must be 1 to 20 digits (the E.164 number's start, without +)")
    return text.strip().lstrip("+")


def _direction(value: Any) -> str:
    if isinstance(value, list) and value and all(v in ("inbound", "outbound") for v in value):
        return value[0] if len(set(value)) == 1 else "both"
    if isinstance(value, str) and value.strip().lower() in DIRECTIONS:
        return value.strip().lower()
    raise FieldError("enum", "must be inbound, outbound or both (or a list of inbound and outbound)")


def deck_id(value: Any) -> str:
    if not isinstance(value, str) or not DECK.fullmatch(value):
        raise FieldError("format", f"a rate deck id is {DECK_RULE}")
    return value


# field → (parser, default); None as default: required
FIELDS: dict[str, tuple[Callable[[Any], Any], Any]] = {
    "prefix": (_prefix, None),
    "rate_cost": (_money, None),
    "direction": (_direction, "both"),
    "iso_country_code": (_text(8), ""),
    "description": (_text(TEXT_LIMIT), ""),
    "rate_name": (_text(TEXT_LIMIT), ""),
    "rate_increment": (_whole(1, MAX_SECONDS), DEFAULT_INCREMENT_S),
    "rate_minimum": (_whole(0, MAX_SECONDS), 60),
    "rate_surcharge": (_money, 0),
    "rate_nocharge_time": (_whole(0, MAX_SECONDS), 0),
    "weight": (_whole(1, 100), 100),
}


def checked(values: Mapping[str, Any], blank_is_default: bool = False) -> tuple[dict[str, Any], dict[str, dict]]:
    """The stored columns of a rate's fields (without id and deck), and the errors by field then rule.
    `blank_is_default`: an empty value (a CSV cell) takes the field's default."""
    out: dict[str, Any] = {}
    errors: dict[str, dict] = {}
    for name, (parse, default) in FIELDS.items():
        value = values.get(name)
        if value is None or (blank_is_default and isinstance(value, str) and not value.strip()):
            if default is None:
                errors[name] = {"required": {"message": "Field is required but missing"}}
            else:
                out[name] = default
            continue
        try:
            out[name] = parse(value)
        except FieldError as exc:
            errors[name] = {exc.rule: {"message": exc.message}}
    return out, errors

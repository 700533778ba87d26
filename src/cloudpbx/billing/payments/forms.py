"""What a client may send to be kept at the gateway (customer, card, address), checked before the gateway sees it:
known fields only, short strings. A card's number and CVV pass through to the gateway and nowhere else: an error
about them never repeats the value."""

from __future__ import annotations

import re
from typing import Any

from cloudpbx.billing.payments.gateway import Fields
from cloudpbx.errors import Invalid

CUSTOMER = ("first_name", "last_name", "company", "email", "phone", "fax", "website")
ADDRESS = (
    "first_name",
    "last_name",
    "company",
    "street_address",
    "extended_address",
    "locality",
    "region",
    "postal_code",
    "country_code_alpha2",
    "country_name",
)
CARD = ("cardholder_name", "expiration_date", "expiration_month", "expiration_year", "payment_method_nonce")
SECRET = {"number": re.compile(r"[0-9 -]{12,23}"), "cvv": re.compile(r"[0-9]{3,4}")}
LONGEST = 255


def customer(data: Any) -> Fields:
    body = _object(data, "data")
    fields = _strings(body, CUSTOMER, "")
    if body.get("credit_card") is not None:
        fields["credit_card"] = card(body["credit_card"], "credit_card.")
    return fields


def card(data: Any, path: str = "") -> Fields:
    body = _object(data, path.rstrip(".") or "data")
    fields = _strings(body, CARD, path)
    for key, pattern in SECRET.items():
        value = body.get(key)
        if value is not None and not (isinstance(value, str) and pattern.fullmatch(value)):
            raise Invalid.field(f"{path}{key}", "pattern", f"Not a card {key}")  # never echoes the value
        if value is not None:
            fields[key] = value
    if "number" not in fields and "payment_method_nonce" not in fields:
        raise Invalid.field(f"{path}number", "required", "A card needs its number or a payment_method_nonce")
    if body.get("billing_address") is not None:
        fields["billing_address"] = address(body["billing_address"], f"{path}billing_address.")
    if body.get("make_default") is not None:
        if not isinstance(body["make_default"], bool):
            raise Invalid.field(f"{path}make_default", "type", "Value did not match type(s): boolean")
        fields["options"] = {"make_default": body["make_default"]}
    return fields


def address(data: Any, path: str = "") -> Fields:
    return _strings(_object(data, path.rstrip(".") or "data"), ADDRESS, path)


def _object(data: Any, path: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise Invalid.field(path, "type", "Value did not match type(s): object")
    return data


def _strings(body: dict[str, Any], keys: tuple[str, ...], path: str) -> Fields:
    fields: Fields = {}
    for key in keys:
        value = body.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or len(value) > LONGEST:
            raise Invalid.field(f"{path}{key}", "type", f"Value must be a string of at most {LONGEST} characters")
        fields[key] = value
    return fields

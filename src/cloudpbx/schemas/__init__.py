"""Document shapes: one JSON Schema per document type, defaults, and Crossbar-shaped validation errors."""

from __future__ import annotations

import json
import math
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import jsonschema_rs
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

SCHEMA_DIR = Path(__file__).parent / "json"

Errors = dict[str, dict[str, dict[str, Any]]]

# Every `integer` lies within what a double holds exactly, ±(2**53 - 1), unless its schema says tighter: the range
# I-JSON (RFC 7493 2.2) gives for interoperable integers. Past it, JSON readers (orjson past 64 bits, every
# JavaScript client past 53) turn integers into rounded doubles, so a value would not come back as it was sent.
INT_MIN, INT_MAX = -(2**53 - 1), 2**53 - 1


@lru_cache(maxsize=1)
def _registry() -> Registry:
    resources = []
    for path in sorted(SCHEMA_DIR.glob("*.json")):
        schema = _bounded(json.loads(path.read_text()))
        resources.append((path.stem, Resource.from_contents(schema, default_specification=DRAFT7)))
    return Registry().with_resources(resources)


def _bounded(schema: dict) -> dict:
    """Give every integer subschema without its own bounds the I-JSON range (the platform-wide rule)."""
    pending: list[Any] = [schema]
    while pending:
        node = pending.pop()
        if isinstance(node, list):
            pending.extend(node)
        elif isinstance(node, dict):
            types = node.get("type")
            if types == "integer" or (isinstance(types, list) and "integer" in types):
                if "minimum" not in node and "exclusiveMinimum" not in node:
                    node["minimum"] = INT_MIN
                if "maximum" not in node and "exclusiveMaximum" not in node:
                    node["maximum"] = INT_MAX
            pending.extend(value for key, value in node.items() if key not in ("default", "enum", "examples"))
    return schema


def names() -> list[str]:
    return sorted(p.stem for p in SCHEMA_DIR.glob("*.json"))


def load(name: str) -> dict:
    return _registry().contents(name)


@cache
def _validator(name: str) -> Draft7Validator:
    return Draft7Validator(load(name), registry=_registry(), format_checker=Draft7Validator.FORMAT_CHECKER)


@cache
def _quick(name: str) -> jsonschema_rs.Validator:
    """The same schema compiled by jsonschema-rs, about a hundred times faster at saying "valid".

    It checks formats at least as strictly as `_validator`, so when it says a document is valid so would the
    other; when it says invalid, `_validator` has the last word and writes the errors.
    """
    return jsonschema_rs.validator_for(
        load(name), validate_formats=True, retriever=lambda uri: load(uri.rsplit("/", 1)[-1])
    )


def _resolve(schema: dict) -> dict:
    """Follow `$ref`s; by convention they name another schema file."""
    while isinstance(schema.get("$ref"), str):
        schema = load(schema["$ref"])
    return schema


def _coerce(value: Any, schema: dict) -> Any:
    """Crossbar's non-strict mode: "5" becomes 5 and "true" becomes true where the schema wants them; a whole
    float (5.0, 1e3) becomes an int where an integer is wanted. What is out of range stays as given, and fails."""
    types = schema.get("type")
    types = [types] if isinstance(types, str) else (types or [])
    if isinstance(value, float) and "integer" in types and value.is_integer() and INT_MIN <= value <= INT_MAX:
        return int(value)
    if isinstance(value, str) and "string" not in types:
        text = value.strip()
        digits = text[1:] if text[:1] == "-" else text
        if ("integer" in types or "number" in types) and digits.isascii() and digits.isdigit() and len(digits) <= 16:
            return int(text)
        if "number" in types:
            try:
                number = float(text)
            except ValueError:
                return value
            return number if math.isfinite(number) and text.isascii() and "_" not in text else value
        if "boolean" in types and text.lower() in ("true", "false"):
            return text.lower() == "true"
    return value


def fill_defaults(value: Any, schema: dict) -> Any:
    """Fill schema defaults into present objects, recursively, as KAZOO does on save."""
    schema = _resolve(schema)
    value = _coerce(value, schema)
    if isinstance(value, dict):
        for key, default in _defaults(schema):
            if key not in value:
                value[key] = _copied(default)
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key in value:
            sub = props.get(key)
            if sub is not None:
                value[key] = fill_defaults(value[key], sub)
            elif isinstance(extra, dict):
                value[key] = fill_defaults(value[key], extra)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [fill_defaults(item, schema["items"]) for item in value]
    return value


_DEFAULTS: dict[int, list[tuple[str, Any]]] = {}  # id of a loaded (never freed) schema -> its properties' defaults


def _defaults(schema: dict) -> list[tuple[str, Any]]:
    found = _DEFAULTS.get(id(schema))
    if found is None:
        found = _DEFAULTS[id(schema)] = [
            (key, _resolve(sub)["default"])
            for key, sub in schema.get("properties", {}).items()
            if "default" in _resolve(sub)
        ]
    return found


def _path(parts) -> str:
    return ".".join(str(p).replace(".", "%2E") for p in parts)


def _message(err) -> dict[str, Any]:
    rule, target = err.validator, err.validator_value
    messages = {
        "required": "Field is required but missing",
        "type": f"Value did not match type(s): {target}",
        "minLength": f"String must be at least {target} characters",
        "maxLength": f"String must not be more than {target} characters",
        "minimum": f"Value must be at least {target}",
        "maximum": f"Value must be at most {target}",
        "enum": "Value not found in enumerated list of values",
        "pattern": f"Failed to match pattern '{target}'",
        "format": f"Value is not a valid {target}",
        "minItems": f"The list must have at least {target} items",
        "maxItems": f"The list is more than {target} items",
        "uniqueItems": "List of items is not unique",
        "additionalProperties": "Strict checking of data is enabled; only include schema-defined properties",
    }
    detail: dict[str, Any] = {"message": messages.get(rule, err.message)}
    if rule not in ("required", "additionalProperties"):
        detail["target"] = target
        if not isinstance(err.instance, (dict, list)):
            detail["value"] = err.instance
    return detail


def errors_of(name: str, doc: dict) -> Errors:
    """Validation errors keyed by dotted field path, then rule (Crossbar's 400 `validation error` data)."""
    out: Errors = {}
    for err in _validator(name).iter_errors(doc):
        for leaf in (err.context or [err]) if err.validator in ("anyOf", "oneOf") and not err.path else [err]:
            parts = list(leaf.absolute_path)
            if leaf.validator == "required":
                missing = leaf.message.split("'")[1] if "'" in leaf.message else ""
                parts.append(missing)
            rule = "wrong_format" if leaf.validator == "format" else leaf.validator
            out.setdefault(_path(parts), {})[rule] = _message(leaf)
    return out


def _copied(value: Any) -> Any:
    """A deep copy of JSON-shaped data (dicts, lists, scalars): several times cheaper than `copy.deepcopy`."""
    if isinstance(value, dict):
        return {key: _copied(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copied(item) for item in value]
    return value


def validate(name: str, doc: dict) -> tuple[dict, Errors]:
    """Fill defaults into a copy of `doc` and validate it; returns (doc, errors)."""
    filled = fill_defaults(_copied(doc), load(name))
    return filled, {} if _quick(name).is_valid(filled) else errors_of(name, filled)

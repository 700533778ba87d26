"""/v2/openapi.json: an OpenAPI 3.0 description of this API, generated from the path shapes and methods each endpoint
declares (the same declarations the router serves) and the JSON schemas that validate requests (public: tools fetch
it without credentials)."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import orjson

from cloudpbx import __version__, schemas
from cloudpbx.api.context import Context, Reply
from cloudpbx.api.endpoints.base import Endpoint
from cloudpbx.api.envelope import answer
from cloudpbx.api.paths import Op, Shape, arg_of, placeholder

NOUN = "openapi.json"
DROPPED = frozenset(
    {
        "$schema",
        "$id",
        "$comment",
        "definitions",
        "$defs",
        "examples",
        "if",
        "then",
        "else",
        "dependencies",
        "patternProperties",
        "propertyNames",
        "contains",
    }
)
TYPE_KEYWORDS = {
    "object": ("properties", "additionalProperties", "required", "minProperties", "maxProperties"),
    "array": ("items", "minItems", "maxItems", "uniqueItems"),
    "string": ("minLength", "maxLength", "pattern", "format"),
    "integer": ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"),
    "number": ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"),
}


def to_openapi(schema):
    """A draft-7 schema as an OpenAPI 3.0 Schema Object: `$ref`s to components, one `type` per schema."""
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        return {"$ref": f"#/components/schemas/{schema['$ref']}"}
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in DROPPED or (key == "required" and not value):
            continue
        if key == "const":
            out["enum"] = [value]
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            out[key.replace("exclusiveM", "m")] = value
            out[key] = True
        elif key == "properties":
            out[key] = {name: to_openapi(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not"):
            out[key] = to_openapi(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [to_openapi(sub) for sub in value]
        else:
            out[key] = value
    return _one_type(out) if isinstance(out.get("type"), list) else out


def _one_type(schema: dict) -> dict:
    """`type: [a, b]` becomes `anyOf` with each type's own keywords; `null` becomes `nullable`."""
    types = schema.pop("type")
    nullable = "null" in types
    types = [t for t in types if t != "null"]
    if len(types) == 1:
        schema["type"] = types[0]
        return schema | ({"nullable": True} if nullable else {})
    branches = []
    for kind in types:
        branch = {"type": kind, **{k: schema[k] for k in TYPE_KEYWORDS.get(kind, ()) if k in schema}}
        branches.append(branch | ({"nullable": True} if nullable else {}))
    for key in {k for kind in types for k in TYPE_KEYWORDS.get(kind, ())}:
        schema.pop(key, None)
    schema["anyOf"] = branches
    return schema


ANY: dict[str, Any] = {}  # a schema any JSON value meets
ENVELOPE = {
    "type": "object",
    "required": ["status", "request_id"],
    "properties": {
        "status": {"type": "string", "enum": ["success", "error"]},
        "data": ANY,
        "revision": {"type": "string"},
        "auth_token": {"type": "string"},
        "request_id": {"type": "string"},
        "node": {"type": "string"},
        "timestamp": {"type": "string"},
        "version": {"type": "string"},
        "page_size": {"type": "integer"},
        "start_key": {"type": "string"},
        "next_start_key": {"type": "string"},
        "metadata": {"type": "object"},
    },
}
ERROR_ENVELOPE = {
    "allOf": [
        {"$ref": "#/components/schemas/Envelope"},
        {
            "type": "object",
            "required": ["error", "message"],
            "properties": {
                "error": {"type": "string", "description": "the HTTP status, as a string"},
                "message": {"type": "string", "description": "Crossbar's error name, e.g. bad_identifier"},
                "data": {"type": "object", "description": "details; for validation errors keyed by field path"},
            },
        },
    ]
}
ERROR = {
    "description": "a Crossbar error",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}},
}
THROTTLED = {
    **ERROR,
    "description": "too many requests from this address to this account, or too many failed logins "
    "(`too_many_requests`)",
    "headers": {
        "Retry-After": {
            "description": "whole seconds to wait before trying again",
            "required": True,
            "schema": {"type": "integer", "minimum": 1},
        }
    },
}
CSV = {"schema": {"type": "string", "description": "with `Accept: text/csv` or `accept=csv`: the data as CSV"}}
ROW = {"type": "object", "description": "a summary row"}
BINARY = {"type": "string", "format": "binary"}
UPLOAD_FORMS = {
    "multipart/form-data": {"schema": {"type": "object", "properties": {"file": BINARY}}},
    "application/x-base64": {"schema": {"type": "string", "description": "a data URL"}},
}


def _schema(schema: str | dict | None) -> dict:
    if isinstance(schema, str):
        return {"$ref": f"#/components/schemas/{schema}"}
    return schema if schema is not None else ANY


def _tag(template: str) -> str:
    """The noun an operation belongs to: `accounts/{account_id}/users/{id}` → users."""
    nouns = [part for part in template.split("/") if not part.startswith("{")]
    return nouns[1] if nouns[0] == "accounts" and len(nouns) > 1 else nouns[0]


def _parameters(endpoint: Endpoint, shape: Shape) -> list[dict]:
    params = []
    for segment in shape.segments:
        name = placeholder(segment)
        if name is not None:
            arg = arg_of(endpoint, shape, name)
            params.append(
                {
                    "name": name,
                    "in": "path",
                    "required": True,
                    "schema": arg.schema(),
                    **({"description": arg.description} if arg.description else {}),
                }
            )
    return params


def _request(op: Op) -> dict | None:
    if op.upload:
        return {"content": {**{kind: {"schema": BINARY} for kind in op.upload_types}, **UPLOAD_FORMS}, "required": True}
    if op.body is None:
        return None
    body = {"type": "object", "required": ["data"], "properties": {"data": _schema(op.body)}}
    return {"required": not op.body_optional, "content": {"application/json": {"schema": body}}}


def _responses(op: Op) -> dict:
    """The success of the operation, and its failures: any operation may be throttled (429 with Retry-After)."""
    failures = {
        "429": {"$ref": "#/components/responses/Throttled"},
        "default": {"$ref": "#/components/responses/Error"},
    }
    if op.files == ("application/json",):
        ok = {"description": "the document", "content": {"application/json": {"schema": _schema(op.reply)}}}
        return {"200": ok, **failures}
    if op.files:
        ok = {"description": "the file", "content": {media: {"schema": BINARY} for media in op.files}}
        return {
            "200": ok,
            "206": {**ok, "description": "the requested byte range (`Range: bytes=a-b`)"},
            "416": {"description": "the requested range is outside the file"},
            **failures,
        }
    data = {"type": "array", "items": ROW} if op.listing else _schema(op.reply)
    reply = {"allOf": [{"$ref": "#/components/schemas/Envelope"}, {"type": "object", "properties": {"data": data}}]}
    content = {"application/json": {"schema": reply}, "text/csv": CSV}
    return {str(op.status): {"description": "success", "content": content}, **failures}


def _operation(endpoint: Endpoint, shape: Shape, method: str, op: Op) -> dict:
    operation: dict = {
        "summary": op.summary,
        "tags": [_tag(shape.template)],
        "operationId": re.sub(r"\W+", "_", f"{method.lower()}_{shape.template}").strip("_"),
    }
    params = _parameters(endpoint, shape) + [
        {"name": q.name, "in": "query", "required": q.required, "schema": q.schema, "description": q.description}
        for q in op.query
    ]
    if params:
        operation["parameters"] = params
    if op.public:
        operation["security"] = []
    request = _request(op)
    if request is not None:
        operation["requestBody"] = request
    operation["responses"] = _responses(op)
    return operation


def document(endpoints: dict[str, Endpoint]) -> dict:
    """Every declared shape of every endpoint, each method an operation."""
    paths: dict[str, dict] = {}
    for endpoint in endpoints.values():
        for shape in endpoint.shapes:
            item = paths.setdefault(f"/{shape.template}", {})
            for method, op in shape.ops.items():
                item[method.lower()] = _operation(endpoint, shape, method, op)
    components = {name: to_openapi(schemas.load(name)) for name in schemas.names()}
    components.update(Envelope=ENVELOPE, ErrorEnvelope=ERROR_ENVELOPE)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "cloudpbx Crossbar v2 API",
            "version": __version__,
            "description": "KAZOO Crossbar v2 compatible. Every JSON reply is wrapped in the envelope; "
            "request bodies carry the document under `data`. Paths not listed here are 404; "
            "methods not listed for a path are 405 with an `Allow` header. "
            "`/account/...` stands for `/accounts/{the caller's account_id}/...`; a POST with "
            "`verb` in the query string or envelope acts as that method.",
        },
        "servers": [{"url": "/v2"}],
        "security": [{"authToken": []}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": components,
            "securitySchemes": {"authToken": {"type": "apiKey", "in": "header", "name": "X-Auth-Token"}},
            "responses": {"Error": ERROR, "Throttled": THROTTLED},
        },
    }


@cache
def _rendered(endpoints: tuple[Endpoint, ...]) -> bytes:
    return orjson.dumps(document({endpoint.noun: endpoint for endpoint in endpoints}))


class OpenApi(Endpoint):
    noun = NOUN
    shapes = (
        Shape(
            NOUN, {"GET": Op("This description", public=True, reply={"type": "object"}, files=("application/json",))}
        ),
    )

    def user_may(self, ctx: Context) -> bool:
        return True

    async def handle(self, ctx: Context) -> Reply:
        """The document of the endpoints the dispatcher serves (it hands them over: this module is one of them)."""
        return Reply(None, raw=answer(_rendered(tuple(ctx.endpoints.values())), media_type="application/json"))


ENDPOINT = OpenApi()

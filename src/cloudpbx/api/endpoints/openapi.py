"""/v2/openapi.json: an OpenAPI 3.0 description of this API, generated from the same JSON schemas that validate
requests and from the registered endpoints (public: tools fetch it without credentials)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

import orjson
from cloudpbx import __version__, schemas
from cloudpbx.api.envelope import answer
from cloudpbx.api.context import Context, Reply
from cloudpbx.api.endpoints.base import BadPath, DocumentEndpoint, Endpoint

NOUN = "openapi.json"
DROPPED = frozenset({"$schema", "$id", "$comment", "definitions", "$defs", "examples", "if", "then", "else",
                     "dependencies", "patternProperties", "propertyNames", "contains"})
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
    out = {}
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


@dataclass(frozen=True)
class Op:
    method: str
    path: str
    summary: str
    schema: str | None = None  # the component the request and reply data follow
    body: bool = False
    public: bool = False
    binary: str = ""  # "in" for a file upload, "out" for a file download


ACCOUNT = "/accounts/{account_id}"


def _crud(noun: str, schema: str) -> list[Op]:
    base = f"{ACCOUNT}/{noun}"
    item = f"{base}/{{id}}"
    return [Op("get", base, f"List {noun}", schema), Op("put", base, f"Create one of {noun}", schema, True),
            Op("get", item, f"Read one of {noun}", schema), Op("post", item, f"Replace one of {noun}", schema, True),
            Op("patch", item, f"Change fields of one of {noun}", schema, True),
            Op("delete", item, f"Delete one of {noun}", schema)]


ROUTES: dict[str, list[Op]] = {
    "about": [Op("get", "/about", "Version and node")],
    "accounts": [
        Op("put", "/accounts", "Create an account below the caller's", "accounts", True),
        Op("get", ACCOUNT, "Read an account", "accounts"),
        Op("put", ACCOUNT, "Create a sub-account", "accounts", True),
        Op("post", ACCOUNT, "Replace an account", "accounts", True),
        Op("patch", ACCOUNT, "Change fields of an account", "accounts", True),
        Op("delete", ACCOUNT, "Delete an account without sub-accounts", "accounts"),
        *[Op("get", f"{ACCOUNT}/{view}", f"The account's {view}") for view in
          ("children", "descendants", "siblings", "parents", "tree")],
        Op("get", f"{ACCOUNT}/api_key", "Read the API key"), Op("put", f"{ACCOUNT}/api_key", "Regenerate the API key"),
        Op("put", f"{ACCOUNT}/reseller", "Promote to reseller"), Op("delete", f"{ACCOUNT}/reseller", "Demote"),
        Op("post", f"{ACCOUNT}/move", "Move below another account", body=True),
    ],
    "user_auth": [
        Op("put", "/user_auth", "Log in with a credentials hash", "user_auth", True, True),
        Op("get", "/user_auth/{token}", "Read a token of the caller's account"),
        Op("put", "/user_auth/recovery", "Start a password recovery", "user_auth_recovery", True, True),
        Op("post", "/user_auth/recovery", "Finish a password recovery", "user_auth_reset", True, True),
    ],
    "api_auth": [Op("put", "/api_auth", "Log in with an API key", "api_auth", True, True)],
    "token_auth": [Op("get", "/token_auth", "Read the token in use"), Op("delete", "/token_auth", "Revoke it")],
    "auth": [Op("post", "/auth/tokeninfo", "Read what a token says", body=True, public=True)],
    "whitelabel": [
        Op("get", f"{ACCOUNT}/whitelabel", "Read the branding", "whitelabel"),
        Op("put", f"{ACCOUNT}/whitelabel", "Create the branding", "whitelabel", True),
        Op("post", f"{ACCOUNT}/whitelabel", "Replace the branding", "whitelabel", True),
        Op("delete", f"{ACCOUNT}/whitelabel", "Remove the branding and its files", "whitelabel"),
        Op("get", f"{ACCOUNT}/whitelabel/{{file}}", "Download the logo, icon or welcome page", binary="out"),
        Op("post", f"{ACCOUNT}/whitelabel/{{file}}", "Upload the logo, icon or welcome page", "whitelabel",
           binary="in"),
        Op("get", "/whitelabel/{domain}", "The branding serving a domain", "whitelabel", public=True),
        Op("get", "/whitelabel/{domain}/{file}", "A file of the branding serving a domain", public=True,
           binary="out"),
    ],
    "apps_store": [
        Op("get", f"{ACCOUNT}/apps_store", "The apps the account may use"),
        Op("get", f"{ACCOUNT}/apps_store/{{app_id}}", "One app and its install"),
        Op("put", f"{ACCOUNT}/apps_store/{{app_id}}", "Install an app", "apps_store", True),
        Op("post", f"{ACCOUNT}/apps_store/{{app_id}}", "Change who may use an app", "apps_store", True),
        Op("delete", f"{ACCOUNT}/apps_store/{{app_id}}", "Uninstall an app"),
        Op("get", f"{ACCOUNT}/apps_store/blacklist", "Apps the account's descendants may not use"),
        Op("post", f"{ACCOUNT}/apps_store/blacklist", "Set the apps its descendants may not use", body=True),
    ],
    "limits": [Op("get", f"{ACCOUNT}/limits", "Trunk and call limits", "limits"),
               Op("post", f"{ACCOUNT}/limits", "Replace the limits (the account's reseller)", "limits", True)],
    "alerts": [Op("get", f"{ACCOUNT}/alerts", "Alerts addressed to the caller", "alerts"),
               Op("put", f"{ACCOUNT}/alerts", "Raise an alert (system administrators)", "alerts", True),
               Op("get", f"{ACCOUNT}/alerts/{{id}}", "Read an alert", "alerts"),
               Op("delete", f"{ACCOUNT}/alerts/{{id}}", "Remove an alert (system administrators)", "alerts")],
    "media": [Op("get", f"{ACCOUNT}/media/{{id}}/raw", "Download the audio (Range honoured)", binary="out"),
              Op("post", f"{ACCOUNT}/media/{{id}}/raw", "Upload the audio", "media", binary="in")],
    "system_configs": [
        Op("get", "/system_configs", "Categories of system settings"),
        *[Op(m, "/system_configs/{id}", s, "system_configs", m in ("put", "post")) for m, s in
          (("get", "Read a category"), ("put", "Create a category"), ("post", "Replace a category"),
           ("delete", "Delete a category"))],
    ],
    "channels": [Op("get", f"{ACCOUNT}/channels", "Live calls of the account and its descendants"),
                 Op("get", f"{ACCOUNT}/channels/{{uuid}}", "One live call")],
    "registrations": [Op("get", f"{ACCOUNT}/registrations", "SIP registrations"),
                      Op("delete", f"{ACCOUNT}/registrations", "Flush every registration"),
                      Op("get", f"{ACCOUNT}/registrations/count", "How many are registered"),
                      Op("delete", f"{ACCOUNT}/registrations/{{username}}", "Flush one SIP username's")],
    "cdrs": [Op("get", f"{ACCOUNT}/cdrs", "Call legs in a created range (created_from, created_to; CSV too)"),
             Op("get", f"{ACCOUNT}/cdrs/{{cdr_id}}", "One call leg"),
             Op("get", f"{ACCOUNT}/cdrs/interaction", "One row per call in a created range"),
             Op("get", f"{ACCOUNT}/cdrs/legs/{{interaction_id}}", "The legs of a call (by interaction or CDR id)"),
             Op("get", f"{ACCOUNT}/users/{{user_id}}/cdrs", "The call legs a user owns"),
             Op("get", f"{ACCOUNT}/users/{{user_id}}/cdrs/interaction", "One row per call of a user")],
    NOUN: [Op("get", f"/{NOUN}", "This description", public=True)],
}

ANY = {}
ENVELOPE = {
    "type": "object",
    "required": ["status", "request_id"],
    "properties": {
        "status": {"type": "string", "enum": ["success", "error"]},
        "data": ANY, "revision": {"type": "string"}, "auth_token": {"type": "string"},
        "request_id": {"type": "string"}, "node": {"type": "string"}, "timestamp": {"type": "string"},
        "version": {"type": "string"}, "page_size": {"type": "integer"}, "start_key": {"type": "string"},
        "next_start_key": {"type": "string"}, "metadata": {"type": "object"},
    },
}
ERROR_ENVELOPE = {"allOf": [{"$ref": "#/components/schemas/Envelope"}, {
    "type": "object", "required": ["error", "message"],
    "properties": {"error": {"type": "string", "description": "the HTTP status, as a string"},
                   "message": {"type": "string", "description": "Crossbar's error name, e.g. bad_identifier"},
                   "data": {"type": "object", "description": "details; for validation errors keyed by field path"}},
}]}
BINARY = {"type": "string", "format": "binary"}
UPLOAD = {"content": {"application/octet-stream": {"schema": BINARY},
                      "multipart/form-data": {"schema": {"type": "object", "properties": {"file": BINARY}}},
                      "application/x-base64": {"schema": {"type": "string", "description": "a data URL"}}},
          "required": True}


def _data(schema: str | None) -> dict:
    return {"$ref": f"#/components/schemas/{schema}"} if schema else ANY


def _tag(path: str) -> str:
    """The noun an operation belongs to: `/accounts/{account_id}/users/{id}` → users."""
    nouns = [part for part in path.split("/") if part and not part.startswith("{")]
    return nouns[1] if nouns[0] == "accounts" and len(nouns) > 1 else nouns[0]


def _operation(op: Op) -> dict:
    operation: dict = {"summary": op.summary, "operationId": re.sub(r"\W+", "_", f"{op.method}{op.path}").strip("_"),
                       "tags": [_tag(op.path)]}
    params = re.findall(r"{(\w+)}", op.path)
    if params:
        operation["parameters"] = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                                   for p in params]
    if op.public:
        operation["security"] = []
    if op.binary == "in":
        operation["requestBody"] = UPLOAD
    elif op.body:
        body = {"type": "object", "required": ["data"], "properties": {"data": _data(op.schema)}}
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    if op.binary == "out":
        ok = {"description": "the file", "content": {"application/octet-stream": {"schema": BINARY}}}
        operation["responses"] = {"200": ok, "206": {**ok, "description": "the requested byte range"}}
    else:
        reply = {"allOf": [{"$ref": "#/components/schemas/Envelope"},
                           {"type": "object", "properties": {"data": _data(op.schema)}}]}
        status = "201" if op.method == "put" else "200"
        operation["responses"] = {status: {"description": "success",
                                           "content": {"application/json": {"schema": reply}}}}
    operation["responses"]["default"] = {"$ref": "#/components/responses/Error"}
    return operation


def _ops(endpoints: dict[str, Endpoint]) -> list[Op]:
    ops: list[Op] = []
    for noun, endpoint in endpoints.items():
        if isinstance(endpoint, DocumentEndpoint):
            ops.extend(_crud(noun, endpoint.kind.name))
        ops.extend(ROUTES.get(noun, []))
    return ops


def document(endpoints: dict[str, Endpoint]) -> dict:
    paths: dict[str, dict] = {}
    for op in _ops(endpoints):
        paths.setdefault(op.path, {})[op.method] = _operation(op)
    components = {name: to_openapi(schemas.load(name)) for name in schemas.names()}
    components.update(Envelope=ENVELOPE, ErrorEnvelope=ERROR_ENVELOPE)
    return {
        "openapi": "3.0.3",
        "info": {"title": "cloudpbx Crossbar v2 API", "version": __version__,
                 "description": "KAZOO Crossbar v2 compatible. Every JSON reply is wrapped in the envelope; "
                                "request bodies carry the document under `data`."},
        "servers": [{"url": "/v2"}],
        "security": [{"authToken": []}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": components,
            "securitySchemes": {"authToken": {"type": "apiKey", "in": "header", "name": "X-Auth-Token"}},
            "responses": {"Error": {"description": "a Crossbar error", "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}}}},
        },
    }


@cache
def _rendered() -> bytes:
    from cloudpbx.api.endpoints import ENDPOINTS  # built after this module is imported

    return orjson.dumps(document(ENDPOINTS))


class OpenApi(Endpoint):
    noun = NOUN

    def is_public(self, ctx: Context) -> bool:
        return True

    def allowed(self, ctx: Context) -> set[str]:
        if ctx.args or ctx.nouns[0][0] != NOUN:
            raise BadPath({"message": "not found", "cause": "/".join(ctx.args)})
        return {"GET"}

    def user_may(self, ctx: Context) -> bool:
        return True

    async def handle(self, ctx: Context) -> Reply:
        return Reply(None, raw=answer(_rendered(), media_type="application/json"))


ENDPOINT = OpenApi()

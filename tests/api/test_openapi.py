"""/v2/openapi.json: a valid OpenAPI 3.0 document, public, built from the schemas and the registered endpoints."""

from __future__ import annotations

import json

import pytest
from openapi_spec_validator import validate

from cloudpbx import schemas
from cloudpbx.api.endpoints import ENDPOINTS
from cloudpbx.api.endpoints.base import DocumentEndpoint
from tests.conformance import Document, Seen
from tests.helpers import Client


@pytest.fixture(scope="module")
def spec(server) -> dict:
    resp = Client(server[0]).get("openapi.json", headers={"X-Auth-Token": "undefined"})
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/json"
    return resp.json()


def walk(node):
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def test_it_is_a_valid_openapi_3_document(spec):
    assert spec["openapi"].startswith("3.0.")
    validate(spec)


def test_every_schema_is_a_component_and_every_ref_points_at_one(spec):
    components = spec["components"]["schemas"]
    assert set(schemas.names()) <= set(components)
    refs = {node["$ref"] for node in walk(spec) if isinstance(node, dict) and isinstance(node.get("$ref"), str)}
    assert refs, "components refer to each other"
    for ref in refs:
        kind, _, name = ref.removeprefix("#/components/").partition("/")
        assert name in spec["components"][kind], ref
    assert not any(isinstance(node, dict) and "$schema" in node for node in walk(components))
    assert not any(isinstance(node, dict) and isinstance(node.get("type"), list) for node in walk(components))
    assert components["users"]["properties"]["caller_id"] == {"$ref": "#/components/schemas/caller_id"}


def test_every_document_noun_has_its_crud_paths(spec):
    paths = spec["paths"]
    nouns = [noun for noun, endpoint in ENDPOINTS.items() if isinstance(endpoint, DocumentEndpoint)]
    assert {"users", "devices", "callflows", "media"} <= set(nouns)
    for noun in nouns:
        collection, item = f"/accounts/{{account_id}}/{noun}", f"/accounts/{{account_id}}/{noun}/{{id}}"
        assert {"get", "put"} <= set(paths[collection]), noun
        assert {"get", "post", "patch", "delete"} <= set(paths[item]), noun
        body = paths[collection]["put"]["requestBody"]["content"]["application/json"]["schema"]
        assert body["properties"]["data"]["$ref"].endswith(f"/{ENDPOINTS[noun].kind.name}")
    for auth in ("/user_auth", "/api_auth"):
        assert paths[auth]["put"]["security"] == [], "logins need no token"
    assert "get" in paths["/token_auth"] and "get" in paths["/whitelabel/{domain}"]


def test_replies_follow_the_envelope(spec):
    envelope = spec["components"]["schemas"]["Envelope"]
    assert {"status", "data", "request_id", "auth_token", "revision"} <= set(envelope["properties"])
    read = spec["paths"]["/accounts/{account_id}/users/{id}"]["get"]["responses"]
    schema = read["200"]["content"]["application/json"]["schema"]
    assert schema["allOf"][0] == {"$ref": "#/components/schemas/Envelope"}
    assert schema["allOf"][1]["properties"]["data"] == {"$ref": "#/components/schemas/users"}
    assert read["default"] == {"$ref": "#/components/responses/Error"}
    assert spec["components"]["securitySchemes"]["authToken"]["name"] == "X-Auth-Token"
    raw = spec["paths"]["/accounts/{account_id}/media/{id}/raw"]
    assert "206" in raw["get"]["responses"] and "multipart/form-data" in raw["post"]["requestBody"]["content"]


def reply_data(spec: dict, path: str, method: str, status: str = "200") -> dict:
    content = spec["paths"][path][method]["responses"][status]["content"]
    return content["application/json"]["schema"]["allOf"][1]["properties"]["data"]


def test_listings_declare_arrays(spec):
    """Listings answer an array of rows, and the document says so (it used to claim one document)."""
    for noun in ("users", "devices", "callflows", "menus", "media", "vmboxes", "alerts", "channels", "cdrs"):
        assert reply_data(spec, f"/accounts/{{account_id}}/{noun}", "get")["type"] == "array", noun
    assert reply_data(spec, "/accounts/{account_id}/users/{user_id}/devices", "get")["type"] == "array"


def test_every_served_shape_is_documented(spec):
    paths = spec["paths"]
    assert {"get", "put", "post", "patch", "delete"} <= set(paths["/accounts/{account_id}/phone_numbers/{number}"])
    assert {
        "/phone_numbers",
        "/phone_numbers/{number}",
        "/accounts/{account_id}/phone_numbers/collection",
        "/accounts/{account_id}/phone_numbers/{number}/activate",
    } <= set(paths)
    api_key = paths["/accounts/{account_id}/api_key"]["put"]["responses"]
    assert "200" in api_key and "201" not in api_key, "regenerating the key answers 200"
    account = spec["paths"]["/accounts/{account_id}/users/{id}"]["get"]["parameters"][0]
    assert account["schema"]["pattern"] == "^[0-9a-f]{32}$"


def test_the_conformance_check_catches_a_wrong_reply(spec):
    """The session-wide check is not vacuous: wrong shapes, statuses, types and a missing Allow are reported."""
    document = Document(spec)
    listing = "http://h/v2/accounts/" + "a" * 32 + "/users"
    body = b'{"status":"success","request_id":"r","data":{"id":"x"}}'
    assert document.problems(Seen("GET", listing, 200, "application/json", body, None))
    assert not document.problems(
        Seen("GET", listing, 200, "application/json", body.replace(b'{"id":"x"}', b'[{"id":"x"}]'), None)
    )
    error = b'{"status":"error","request_id":"r","error":"405","message":"invalid_method","data":{}}'
    assert document.problems(Seen("DELETE", listing, 405, "application/json", error, None))
    assert not document.problems(Seen("DELETE", listing, 405, "application/json", error, "GET, PUT"))
    assert document.problems(Seen("GET", listing + "/x/y", 200, "application/json", body, None))
    assert document.problems(Seen("GET", listing, 200, "text/plain", b"hi", None))
    throttled = b'{"status":"error","request_id":"r","error":"429","message":"too_many_requests","data":{}}'
    assert document.problems(Seen("GET", listing, 429, "application/json", throttled, None))
    assert not document.problems(
        Seen("GET", listing, 429, "application/json", throttled, None, headers=(("retry-after", "3"),))
    )


def test_every_operation_declares_429_with_retry_after(spec):
    throttled = spec["components"]["responses"]["Throttled"]
    assert throttled["headers"]["Retry-After"]["required"]
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            assert operation["responses"]["429"] == {"$ref": "#/components/responses/Throttled"}, (method, path)


def test_it_is_the_same_document_for_everyone(master, spec):
    assert json.loads(master.get("openapi.json").content) == spec
    assert master.post("openapi.json", {}).status_code == 405

"""/v2/openapi.json: a valid OpenAPI 3.0 document, public, built from the schemas and the registered endpoints."""

from __future__ import annotations

import json

import pytest
from openapi_spec_validator import validate

from cloudpbx import schemas
from cloudpbx.api.endpoints import ENDPOINTS
from cloudpbx.api.endpoints.base import DocumentEndpoint
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


def test_it_is_the_same_document_for_everyone(master, spec):
    assert json.loads(master.get("openapi.json").content) == spec
    assert master.post("openapi.json", {}).status_code == 405

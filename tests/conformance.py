"""Every response the suite receives through `tests.helpers.Client` is checked against the OpenAPI document the
server publishes: the path is one of its shapes (else 404), the method one of the shape's (else 405 with `Allow`),
the status and content type are declared, headers the response declares required are sent (Retry-After on 429), and
a JSON body validates against the declared schema."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from urllib.parse import unquote, urlsplit

import httpx
import orjson
from openapi_schema_validator import OAS30Validator

NO_BODY = {204, 304}  # CORS preflight; a conditional GET whose ETag still matches


@dataclass(frozen=True)
class Seen:
    method: str
    url: str
    status: int
    content_type: str
    body: bytes
    allow: str | None
    verb: str | None = None  # a POST tunnelling another method
    headers: tuple[tuple[str, str], ...] = ()  # the response's headers, names in lower case


class Document:
    """One server's OpenAPI document, with a matcher from concrete paths to its templates."""

    def __init__(self, spec: dict):
        self.spec = spec
        self._validators: dict[str, OAS30Validator] = {}
        self.templates = []
        for template, item in spec["paths"].items():
            params = {p["name"]: p["schema"] for op in item.values() for p in op.get("parameters", [])}
            self.templates.append((template.strip("/").split("/"), params, template))

    @cached_property
    def prefix(self) -> str:
        return self.spec["servers"][0]["url"].rstrip("/")

    def template(self, path: str) -> str | None:
        """The most specific template the path matches: literal segments beat arguments, left to right."""
        tokens = [unquote(t) for t in path.strip("/").split("/")]
        best = None
        for segments, params, template in self.templates:
            if len(segments) != len(tokens):
                continue
            rank = []
            for segment, token in zip(segments, tokens, strict=True):
                if segment.startswith("{"):
                    if not _fits(params[segment[1:-1]], token):
                        break
                    rank.append(0)
                elif segment == token:
                    rank.append(1)
                else:
                    break
            else:
                if best is None or rank > best[0]:
                    best = (rank, template)
        return best[1] if best else None

    def validator(self, schema: dict) -> OAS30Validator:
        key = orjson.dumps(schema, option=orjson.OPT_SORT_KEYS).decode()
        if key not in self._validators:
            self._validators[key] = OAS30Validator({**schema, "components": self.spec["components"]})
        return self._validators[key]

    def problems(self, seen: Seen) -> list[str]:
        path = urlsplit(seen.url).path
        if not path.startswith(self.prefix + "/"):
            return []
        path = path[len(self.prefix) :]
        if path == "/account" or path.startswith("/account/"):  # the caller's own account
            path = "/accounts/" + "0" * 32 + path[len("/account") :]
        template = self.template(path)
        if template is None:
            return self._error(seen, 404, "a path the document does not list")
        item = self.spec["paths"][template]
        method = "get" if seen.method == "HEAD" else (seen.verb or seen.method).lower()
        if seen.method == "OPTIONS":
            return [] if seen.status == 204 else [f"OPTIONS answered {seen.status}"]
        if method not in item:
            problems = self._error(seen, 405, f"a method {template} does not list")
            declared = ", ".join(sorted(m.upper() for m in item))
            if seen.status == 405 and seen.allow != declared:
                problems.append(f"Allow is {seen.allow!r}, the document lists {declared!r}")
            return problems
        if seen.status in NO_BODY:
            return []
        responses = item[method]["responses"]
        response = responses.get(str(seen.status)) or responses.get("default")
        if response is None:
            return [f"status {seen.status} is not declared for {method.upper()} {template}"]
        response = self._resolve(response)
        return self._headers(seen, response) + self._body(seen, response)

    def _headers(self, seen: Seen, response: dict) -> list[str]:
        """Headers the response declares required are there, and integers when declared so (Retry-After)."""
        present = dict(seen.headers)
        problems = []
        for name, header in response.get("headers", {}).items():
            value = present.get(name.lower())
            if value is None and header.get("required"):
                problems.append(f"header {name} is missing")
            elif value is not None and header.get("schema", {}).get("type") == "integer" and not value.isdigit():
                problems.append(f"header {name} is {value!r}, not an integer")
        return problems

    def _error(self, seen: Seen, status: int, what: str) -> list[str]:
        if seen.status != status:
            return [f"{what} answered {seen.status}, not {status}"]
        return self._body(seen, self.spec["components"]["responses"]["Error"])

    def _resolve(self, node: dict) -> dict:
        while "$ref" in node:
            kind, _, name = node["$ref"].removeprefix("#/components/").partition("/")
            node = self.spec["components"][kind][name]
        return node

    def _body(self, seen: Seen, response: dict) -> list[str]:
        content = response.get("content", {})
        media = seen.content_type.split(";")[0].strip()
        if seen.method == "HEAD" or (not content and not seen.body):
            return []
        if not any(_media_matches(media, declared) for declared in content):
            return [f"content type {media!r} is not one of {sorted(content)}"]
        if media != "application/json":
            return []
        errors = sorted(self.validator(content[media]["schema"]).iter_errors(orjson.loads(seen.body)), key=str)
        return [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}" for e in errors[:3]]


def _tunnelled(request: httpx.Request) -> str | None:
    if request.method != "POST":
        return None
    verb = request.url.params.get("verb")
    if verb is None and request.content[:1] == b"{":
        try:
            verb = orjson.loads(request.content).get("verb")
        except orjson.JSONDecodeError:
            return None
    return verb.upper() if isinstance(verb, str) and verb.upper() in ("PUT", "POST", "PATCH", "DELETE", "GET") else None


def _media_matches(media: str, declared: str) -> bool:
    return media == declared or (declared.endswith("/*") and media.startswith(declared[:-1]))


def _fits(schema: dict, token: str) -> bool:
    if "enum" in schema:
        return token in schema["enum"]
    return bool(token) and re.search(schema.get("pattern", ".*"), token) is not None


class Recorder:
    """Collects what the suite receives, per server, and checks it all at the end of the session."""

    def __init__(self):
        self.seen: dict[str, list[Seen]] = {}
        self.documents: dict[str, Document] = {}

    def record(self, base: str, response: httpx.Response) -> None:
        request = response.request
        self.seen.setdefault(base, []).append(
            Seen(
                request.method,
                str(request.url),
                response.status_code,
                response.headers.get("content-type", ""),
                response.content,
                response.headers.get("allow"),
                _tunnelled(request),
                tuple(response.headers.items()),
            )
        )
        if len(self.seen[base]) == 1:
            self.documents[base] = Document(httpx.get(f"{base}/openapi.json", timeout=30).json())

    def mismatches(self) -> list[str]:
        found = []
        for base, seen in self.seen.items():
            document = self.documents[base]
            for one in seen:
                found.extend(f"{one.method} {one.url} -> {one.status}: {p}" for p in document.problems(one))
        return found


RECORDER = Recorder()

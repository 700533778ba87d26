"""Crossbar's path grammar, declared per endpoint: each endpoint lists the path shapes it serves (`Shape`), with the
methods of each (`Op`); the router and the OpenAPI document are both built from these declarations.

A shape is a template such as `accounts/{account_id}/users/{user_id}/devices`: literal segments, and arguments whose
grammar is named by the placeholder (`ARGS`). A request path matches a shape only segment for segment, each segment
percent-decoded on its own (so `%2F` never becomes a separator) and each argument matching its grammar; literal
segments win over arguments. Anything else is 404, and a method the shape does not list is 405 with `Allow`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from cloudpbx.errors import NotFoundPath as UnknownPath

HEX_ID = r"^[0-9a-f]{32}$"
# A name that stands in a path: no separator, no control characters, no surrounding space (config categories, SIP
# usernames, numbers as the client wrote them, call ids).
NAME = r"^[^\x00-\x20\x7f/][^\x00-\x1f\x7f/]{0,253}[^\x00-\x20\x7f/]$|^[^\x00-\x20\x7f/]$"


@dataclass(frozen=True)
class Arg:
    """The grammar of one kind of path argument: `pattern` for the router and the document, or `choices`."""

    pattern: str = NAME
    choices: tuple[str, ...] = ()
    description: str = ""
    routed: bool = True  # False: the router takes any segment and the dispatcher checks it (account ids)

    def __post_init__(self):
        object.__setattr__(self, "_re", re.compile(self.pattern))

    def matches(self, token: str) -> bool:
        if self.choices:
            return token in self.choices
        return bool(token) and (not self.routed or self._re.fullmatch(token) is not None)  # type: ignore[attr-defined]

    def schema(self) -> dict:
        if self.choices:
            return {"type": "string", "enum": list(self.choices)}
        return {"type": "string", "pattern": self.pattern}


DOC_ID = Arg(HEX_ID, description="a document id: 32 lowercase hex characters")
# Placeholders every shape may use; an endpoint adds its own in `Endpoint.args`.
ARGS: dict[str, Arg] = {
    "account_id": Arg(HEX_ID, description="an account id", routed=False),
    "id": DOC_ID,
    "user_id": DOC_ID,
    "device_id": DOC_ID,
    "media_id": DOC_ID,
    "app_id": DOC_ID,
    "name": Arg(description="a name: no slash or control characters"),
}


@dataclass(frozen=True)
class Query:
    """One query string parameter of an operation."""

    name: str
    schema: dict
    description: str = ""
    required: bool = False


@dataclass(frozen=True)
class Op:
    """One method of a shape, as the OpenAPI document describes it.

    `body`/`reply` name a schema component (str), give an inline schema (dict), or None (no body; any reply data).
    `listing` marks a reply whose `data` is an array of rows (paged; CSV on request).
    """

    summary: str
    body: str | dict | None = None
    reply: str | dict | None = None
    status: int = 200
    public: bool = False
    listing: bool = False
    upload: bool = False  # the body is a file (binary, multipart form or base64 data URL)
    upload_types: tuple[str, ...] = ("application/octet-stream",)  # the media types a binary upload body takes
    files: tuple[str, ...] = ()  # the reply is a file of these media types (ranges like `audio/*`), not an envelope
    body_optional: bool = False
    query: tuple[Query, ...] = ()  # the query parameters it reads, for the document


@dataclass(frozen=True)
class Shape:
    template: str
    ops: dict[str, Op]
    args: dict[str, Arg] = field(default_factory=dict)  # placeholders particular to this shape

    @property
    def segments(self) -> list[str]:
        return self.template.split("/")

    @property
    def allow(self) -> list[str]:
        return sorted(self.ops)


def arg_of(endpoint, shape: Shape, name: str) -> Arg:
    """The grammar of a placeholder: the shape's own, else the endpoint's, else the shared one."""
    return shape.args.get(name) or endpoint.args.get(name) or ARGS[name]


def placeholder(segment: str) -> str | None:
    return segment[1:-1] if segment.startswith("{") and segment.endswith("}") else None


@dataclass
class Route:
    """A path matched to its shape: the endpoint, and Crossbar's nouns (each module noun with its arguments)."""

    endpoint: Any
    shape: Shape
    nouns: list[tuple[str, list[str]]]
    alias: bool = False  # `/v2/account/...`: the account is the caller's, filled in after authentication


class _Node:
    __slots__ = ("literals", "params", "route")

    def __init__(self):
        self.literals: dict[str, _Node] = {}
        self.params: list[tuple[Arg, _Node]] = []
        self.route: tuple[Any, Shape] | None = None


class Router:
    """A trie of every endpoint's shapes; `match` walks it literal-first, so fixed words beat arguments."""

    def __init__(self, endpoints: dict[str, Any]):
        self.nouns = frozenset(endpoints)
        self.root = _Node()
        self.shapes: list[tuple[Any, Shape]] = []
        for endpoint in endpoints.values():
            for shape in endpoint.shapes:
                self._add(endpoint, shape)

    def _add(self, endpoint, shape: Shape) -> None:
        node = self.root
        for segment in shape.segments:
            name = placeholder(segment)
            if name is None:
                node = node.literals.setdefault(segment, _Node())
                continue
            arg = arg_of(endpoint, shape, name)
            for known, child in node.params:
                if known is arg:
                    node = child
                    break
            else:
                child = _Node()
                node.params.append((arg, child))
                node = child
        if node.route is not None:
            raise ValueError(f"two endpoints declare {shape.template}")
        node.route = (endpoint, shape)
        self.shapes.append((endpoint, shape))

    def match(self, raw_path: str) -> Route:
        """`accounts/A/devices/D` → the devices endpoint, its shape, and [("accounts", [A]), ("devices", [D])]."""
        tokens = _tokens(raw_path)
        alias = tokens[0] == "account"
        if alias:
            tokens = ["accounts", "-", *tokens[1:]]
        found = _walk(self.root, tokens, 0)
        if found is None:
            raise UnknownPath({"message": "not found", "cause": raw_path.strip("/")[:200]})
        endpoint, shape = found
        return Route(endpoint, shape, self._nouns(tokens, shape), alias)

    def _nouns(self, tokens: list[str], shape: Shape) -> list[tuple[str, list[str]]]:
        """Literal segments naming an endpoint start a noun; the rest (arguments, sub-paths) belong to it."""
        nouns: list[tuple[str, list[str]]] = []
        for segment, token in zip(shape.segments, tokens, strict=True):
            if not nouns or (segment in self.nouns and placeholder(segment) is None):
                nouns.append((token, []))
            else:
                nouns[-1][1].append(token)
        return nouns


def _walk(node: _Node, tokens: list[str], i: int):
    if i == len(tokens):
        return node.route
    token = tokens[i]
    child = node.literals.get(token)
    if child is not None:
        found = _walk(child, tokens, i + 1)
        if found is not None:
            return found
    for arg, child in node.params:
        if arg.matches(token):
            found = _walk(child, tokens, i + 1)
            if found is not None:
                return found
    return None


def _tokens(raw_path: str) -> list[str]:
    """Segments of the raw path, each decoded on its own; NUL and undecodable bytes name nothing."""
    tokens = []
    for segment in raw_path.strip("/").split("/"):
        try:
            token = unquote(segment, errors="strict")
        except UnicodeDecodeError:
            raise UnknownPath({"message": "not found", "cause": "path is not UTF-8"}) from None
        if "\x00" in token:  # no id or noun holds NUL, and PostgreSQL text cannot
            raise UnknownPath({"message": "not found", "cause": raw_path.replace("%00", "")[:200]})
        tokens.append(token)
    return tokens

"""One request as the endpoints see it: nouns, verb, envelope, the caller, and the account acted on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from cloudpbx.accounts.tree import AccountNode
from cloudpbx.api.envelope import Answer
from cloudpbx.api.paths import Shape
from cloudpbx.api.tokens import Tokens
from cloudpbx.errors import Forbidden, Missing, Unauthorized
from cloudpbx.services import Services


class Query:
    """The query string: `get`, `in` and `[]` see a key's last value; `multi_items` every pair (filters repeat keys)."""

    __slots__ = ("_last", "_pairs")

    def __init__(self, raw: bytes = b""):
        self._pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True) if raw else []
        self._last = dict(self._pairs)

    def get(self, key: str, default: Any = None) -> Any:
        return self._last.get(key, default)

    def __contains__(self, key: str) -> bool:
        return key in self._last

    def __getitem__(self, key: str) -> str:
        return self._last[key]

    def multi_items(self) -> list[tuple[str, str]]:
        return list(self._pairs)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: from a token, an API key login, or Basic auth. Requests with the same token share one."""

    account_id: str
    owner_id: str | None
    method: str
    token: str
    superduper: bool
    priv_level: str  # "admin" or "user"; API-key callers act as admin
    claims: dict[str, Any] = field(default_factory=dict)

    @property
    def is_admin(self) -> bool:
        return self.priv_level == "admin"


@dataclass(slots=True)
class Reply:
    """What an endpoint answers; the dispatcher wraps it in the envelope."""

    data: Any
    status: int = 200
    revision: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    paging: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # further top-level envelope keys (e.g. metadata)
    raw: Answer | None = None  # a ready response (downloads, the OpenAPI document)


@dataclass(slots=True)
class Context:
    platform: Services
    tokens: Tokens
    method: str
    nouns: list[tuple[str, list[str]]]
    query: Query
    headers: dict[str, str]  # the first value of each request header, by lower-case name
    envelope: dict[str, Any]
    request_id: str
    client: str = "-"  # the peer's address
    caller: Caller | None = None
    account: AccountNode | None = None  # the account in the path, once authorized
    shape: Shape | None = None  # the declared path shape the request matched
    endpoints: Mapping[str, Any] = field(default_factory=dict)  # every endpoint the dispatcher serves, by noun

    @property
    def args(self) -> list[str]:
        """The arguments of the noun that handles the request (the last one)."""
        return self.nouns[-1][1]

    @property
    def data(self) -> Any:
        return self.envelope.get("data", {})

    @property
    def account_id(self) -> str:
        return self.node.id

    @property
    def who(self) -> Caller:
        """The authenticated caller, for handlers of operations that are not public (only those have one)."""
        if self.caller is None:
            raise Unauthorized()
        return self.caller

    @property
    def node(self) -> AccountNode:
        """The account of the path (`accounts/{account_id}/...`), authorized for the caller."""
        if self.account is None:
            raise Missing("account_id")
        return self.account

    @property
    def wants_csv(self) -> bool:
        """`Accept: text/csv` or `?accept=csv`: the reply goes out as a CSV file."""
        return "text/csv" in self.headers.get("accept", "") or self.query.get("accept", "") in ("csv", "text/csv")

    def value(self, key: str, default: Any = None) -> Any:
        """Crossbar looks request values up in data, then the query string, then the envelope."""
        data = self.envelope.get("data")
        if isinstance(data, dict) and key in data:
            return data[key]
        if key in self.query:
            return self.query[key]
        return self.envelope.get(key, default)

    def flag(self, key: str) -> bool:
        value = self.value(key, False)
        return value is True or (isinstance(value, str) and value.lower() == "true")

    def parent(self, noun: str) -> list[str] | None:
        """Arguments of an enclosing noun such as `users` in /accounts/A/users/U/devices."""
        for name, args in self.nouns[:-1]:
            if name == noun:
                return args
        return None

    def require_admin(self) -> None:
        if self.caller is None or not (self.caller.is_admin or self.caller.superduper):
            raise Forbidden({"message": "account administrators only"})

    def require_superduper(self) -> None:
        if self.caller is None or not self.caller.superduper:
            raise Forbidden({"message": "system administrators only"})

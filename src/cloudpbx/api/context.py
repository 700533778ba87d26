"""One request as the endpoints see it: nouns, verb, envelope, the caller, and the account acted on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.datastructures import QueryParams
from starlette.requests import Request

from cloudpbx.errors import Forbidden

if TYPE_CHECKING:
    from cloudpbx.accounts.tree import AccountNode
    from cloudpbx.platform import Platform


@dataclass
class Caller:
    """Who is calling: from a token, an API key login, or Basic auth."""

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


@dataclass
class Reply:
    """What an endpoint answers; the dispatcher wraps it in the envelope."""

    data: Any
    status: int = 200
    revision: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    paging: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # further top-level envelope keys (e.g. metadata)
    raw: Any = None  # a ready Starlette response (media downloads)


@dataclass
class Context:
    request: Request
    platform: "Platform"
    method: str
    nouns: list[tuple[str, list[str]]]
    query: QueryParams
    envelope: dict[str, Any]
    request_id: str
    caller: Caller | None = None
    account: "AccountNode | None" = None  # the account in the path, once authorized

    @property
    def args(self) -> list[str]:
        """The arguments of the noun that handles the request (the last one)."""
        return self.nouns[-1][1]

    @property
    def data(self) -> Any:
        return self.envelope.get("data", {})

    @property
    def account_id(self) -> str:
        assert self.account is not None
        return self.account.id

    @property
    def wants_csv(self) -> bool:
        """`Accept: text/csv` or `?accept=csv`: the reply goes out as a CSV file."""
        return "text/csv" in self.request.headers.get("accept", "") or \
            self.query.get("accept", "") in ("csv", "text/csv")

    def value(self, key: str, default: Any = None) -> Any:
        """Crossbar looks request values up in data, then the query string, then the envelope."""
        data = self.data if isinstance(self.data, dict) else {}
        if key in data:
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

"""The Crossbar v2 HTTP front: one dispatcher that parses nouns, authenticates, authorizes and wraps replies.

It is a bare ASGI app: on a device GET, a framework's request, response and router objects would cost as much as
all the rest of our work, so requests are read straight from the ASGI scope and answered with ready header bytes.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
import time

import orjson
from sqlalchemy.exc import InterfaceError, OperationalError

from cloudpbx.accounts import login_guard
from cloudpbx.accounts.login import check_credentials
from cloudpbx.accounts.tree import AccountNode
from cloudpbx.api import charges, envelope
from cloudpbx.api.context import Caller, Context, Query, Reply
from cloudpbx.api.endpoints import ENDPOINTS
from cloudpbx.api.envelope import Answer
from cloudpbx.api.owners import Owners
from cloudpbx.api.paths import Route, Router
from cloudpbx.api.ratelimit import Buckets
from cloudpbx.api.tokens import Tokens
from cloudpbx.api.ui import UiFiles
from cloudpbx.errors import Failure, Forbidden, Missing, Throttled, TooLarge, Unauthorized
from cloudpbx.services import Services
from cloudpbx.store import Unavailable, is_id
from cloudpbx.store.database import COUNT_SQL, statements

log = logging.getLogger("cloudpbx.api")

CORS = {
    "access-control-allow-origin": "*",
    "access-control-allow-methods": "GET, POST, PUT, DELETE, OPTIONS, HEAD, PATCH",
    "access-control-allow-headers": "Content-Type, Depth, User-Agent, X-Http-Method-Override, X-File-Size, "
    "X-Requested-With, If-Modified-Since, X-File-Name, Cache-Control, X-Auth-Token, If-Match, If-None-Match, "
    "X-Kazoo-Cluster-ID, X-Pretty-Print, Accept, Origin, Authorization",
    "access-control-expose-headers": "Content-Type, X-Auth-Token, X-Request-ID, Location, Etag, ETag, Retry-After",
    "access-control-max-age": "86400",
}
CORS_HEADERS = tuple(envelope.encode(CORS))
NO_QUERY = Query()
# A token's caller is reused this long (on top of the account and user caches it is built from), or until a write.
CALLER_TTL_S = 1.0
ROUTER = Router(ENDPOINTS)
HTTP_METHODS = frozenset({"GET", "PUT", "POST", "PATCH", "DELETE", "OPTIONS", "HEAD"})
BINARY_TYPES = (
    "audio/",
    "image/",
    "video/",
    "multipart/",
    "application/octet-stream",
    "application/pdf",
    "text/csv",
    "text/html",
    "application/base64",
    "application/x-base64",
)


class Unreachable(Failure):
    code = 503
    message = "datastore_unreachable"


class NotAllowed(Failure):
    """405: the path is a known shape but not this method; `Allow` lists the shape's methods."""

    code = 405
    message = "invalid_method"

    def __init__(self, allowed):
        allowed = sorted(allowed)
        super().__init__({"message": "method not allowed", "allowed": allowed})
        self.headers = [(b"allow", ", ".join(allowed).encode("latin-1"))]


class ParseError(Failure):
    code = 400
    message = "parse_error"


NUL_REFUSED = "NUL (U+0000) characters are not accepted"
# How deeply a request body may nest objects and arrays (the envelope is level 1, `data` level 2). Deeper JSON would
# exhaust recursion in validation, copying or orjson's writer (255 levels); real documents (callflows nest two levels
# per node) stay far below it.
MAX_DEPTH = 64


class Api:
    def __init__(self, platform: Services):
        self.platform = platform
        self.settings = platform.settings
        self.tokens = Tokens(platform.auth_keys, platform.settings.token_expiry_s)
        self.owners = Owners(platform.documents)
        self.buckets = Buckets(platform.settings.bucket_capacity, platform.settings.bucket_fill_per_s)
        self._callers: dict[str, tuple[float, Caller]] = {}  # token -> (reusable until, caller)

    async def dispatch(self, scope, receive) -> Answer:
        """Answer one /v2 request, whatever happens; every error becomes Crossbar's error envelope."""
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in reversed(scope["headers"])}
        query = Query(scope["query_string"]) if scope["query_string"] else NO_QUERY
        request_id = headers.get("x-request-id") or envelope.request_id()
        pretty = headers.get("x-pretty-print", "").lower() == "true" or query.get("pretty_print", "").lower() == "true"
        ctx = None
        try:
            if scope["method"] == "OPTIONS":
                return Answer(204, list(CORS_HEADERS))
            if scope["method"] not in HTTP_METHODS:
                raise NotAllowed(HTTP_METHODS - {"HEAD", "OPTIONS"})
            route = ROUTER.match(_raw_path(scope)[4:])
            ctx = await self._context(scope, receive, headers, query, request_id, route)
            reply = await self._handle(ctx, route)
            return self._success(ctx, reply, pretty)
        except Failure as failure:
            return self._failure(ctx, request_id, failure, pretty)
        except (Unavailable, OperationalError, InterfaceError, OSError) as exc:
            log.warning("request %s: datastore unreachable: %s", request_id, exc)
            return self._failure(ctx, request_id, Unreachable({"message": "the database cannot be reached"}), pretty)
        except Exception:
            log.exception("request %s failed", request_id)
            return self._failure(ctx, request_id, Failure({"message": "internal server error"}), pretty)

    async def _context(
        self, scope, receive, headers: dict[str, str], query: Query, request_id: str, route: Route
    ) -> Context:
        if query is not NO_QUERY and any(_has_nul(key) or _has_nul(value) for key, value in query.multi_items()):
            raise ParseError({"message": NUL_REFUSED, "cause": "query string"})
        method = scope["method"] if scope["method"] != "HEAD" else "GET"
        body = {}
        if "content-length" in headers or "transfer-encoding" in headers:  # HTTP/1.1 sends a body only with one
            body = await self._body(receive, headers, self._body_limit(route), request_id)
        if method == "POST":
            tunnel = query.get("verb") or body.get("verb")
            if isinstance(tunnel, str) and tunnel.upper() in ("PUT", "POST", "PATCH", "DELETE", "GET"):
                method = tunnel.upper()
        if method not in route.shape.ops:
            raise NotAllowed(route.shape.ops)
        client = scope.get("client")
        return Context(
            platform=self.platform,
            tokens=self.tokens,
            method=method,
            nouns=route.nouns,
            query=query,
            headers=headers,
            envelope=body,
            request_id=request_id,
            client=client[0] if client else "-",
            shape=route.shape,
            endpoints=ENDPOINTS,
        )

    def _body_limit(self, route: Route) -> int:
        """The platform's cap on request bodies, raised for shapes that take larger uploads (media)."""
        return max(self.settings.max_body_bytes, route.endpoint.body_limit(route.nouns[-1][1]))

    async def _body(self, receive, headers: dict[str, str], limit: int, request_id: str) -> dict:
        length = headers.get("content-length")
        if length and length.isdigit() and int(length) > limit:
            raise TooLarge({"message": f"request body over {limit} bytes"})
        raw = await _read(receive, limit)
        ctype = headers.get("content-type", "")
        if not raw.strip():
            return {}
        if ctype.startswith(BINARY_TYPES):
            return {"data": {}, "raw": raw, "content_type": ctype}
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ParseError({"message": "failed to parse request body", "cause": str(exc)}) from exc
        if not isinstance(body, dict):
            raise ParseError({"message": "the request body must be a JSON object with a data key"})
        if raw.count(b"{") + raw.count(b"[") > MAX_DEPTH and _deeper_than(body, MAX_DEPTH):
            log.warning("request %s: body refused, nested deeper than %d levels", request_id, MAX_DEPTH)
            raise ParseError({"message": f"the request body nests deeper than {MAX_DEPTH} levels", "target": MAX_DEPTH})
        if b"\\u0000" in raw and _has_nul(body):
            raise ParseError({"message": NUL_REFUSED, "cause": "request body"})
        return body

    async def _handle(self, ctx: Context, route: Route) -> Reply:
        endpoint = route.endpoint
        ctx.caller = await self._authenticate(ctx, required=not endpoint.is_public(ctx))
        if route.alias:
            if ctx.caller is None:
                raise Unauthorized()
            ctx.nouns[0][1][0] = ctx.caller.account_id
        await self._authorize(ctx)
        allowed = endpoint.allowed(ctx)
        if ctx.method not in allowed:
            raise NotAllowed(allowed)
        if ctx.caller is not None:
            self._throttle(ctx)
            if ctx.caller.priv_level != "admin" and not ctx.caller.superduper and not endpoint.user_may(ctx):
                raise Forbidden({"message": "this action needs an account administrator"})
        try:
            billable = await charges.gate(ctx, endpoint)
            reply = await endpoint.handle(ctx)
            if billable and reply.status < 300:
                await charges.settle(ctx)
            return reply
        finally:
            if ctx.method != "GET":  # the write may have disabled, removed or demoted a user, or revoked a token
                self.owners.forget()
                self._callers.clear()

    def _token(self, ctx: Context) -> tuple[str, str] | None:
        headers = ctx.headers
        token = headers.get("x-auth-token") or ctx.envelope.get("auth_token") or ctx.query.get("auth_token")
        if token and token != "undefined":
            return "token", token
        auth = headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value:
            return "token", value.strip()
        if scheme.lower() == "basic" and value:
            return "basic", value.strip()
        return None

    async def _authenticate(self, ctx: Context, required: bool) -> Caller | None:
        found = self._token(ctx)
        caller = (self._known_caller(*found) or await self._caller(*found, ctx.client)) if found else None
        if caller is None and required:
            raise Unauthorized()
        return caller

    def _known_caller(self, kind: str, value: str) -> Caller | None:
        hit = self._callers.get(value) if kind == "token" else None
        return hit[1] if hit is not None and hit[0] > time.monotonic() else None

    async def _caller(self, kind: str, value: str, client: str) -> Caller | None:
        """Who the credentials name; None for invalid ones, Unauthorized for a disabled account or user."""
        claims = await (self.tokens.verify(value) if kind == "token" else self._basic(value, client))
        if claims is None:
            return None
        node = await self.platform.directory.get(claims["account_id"])
        if node is None or not node.enabled or (node.tree and not await self._ancestors_enabled(node)):
            raise Unauthorized()
        priv = "admin"
        if claims.get("owner_id"):
            level = await self.owners.priv_level(node.id, claims["owner_id"])
            if level is None:
                raise Unauthorized()
            priv = level
        caller = Caller(
            account_id=node.id,
            owner_id=claims.get("owner_id"),
            method=claims.get("method", ""),
            token=value if kind == "token" else "",
            superduper=node.superduper and not node.tree,
            priv_level=priv,
            claims=claims,
        )
        if kind == "token":
            if len(self._callers) >= 10_000:
                self._callers.clear()
            ttl = min(CALLER_TTL_S, claims["exp"] - time.time())  # never past the token's expiry
            self._callers[value] = (time.monotonic() + ttl, caller)
        return caller

    async def _ancestors_enabled(self, node: AccountNode) -> bool:
        """Tokens stop working when an ancestor of the account is disabled, as logins do."""
        for ancestor_id in node.tree:
            ancestor = await self.platform.directory.get(ancestor_id)
            if ancestor is None or not ancestor.enabled:
                return False
        return True

    async def _basic(self, value: str, client: str) -> dict | None:
        """Basic auth: the user is the account id, the password md5("username:password"); throttled as logins are."""
        try:
            account_id, _, credentials = base64.b64decode(value).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        if not is_id(account_id) or await self.platform.directory.get(account_id) is None:
            return None
        store = self.platform.store
        await login_guard.check(store, account_id, client)
        user = await check_credentials(store, account_id, credentials, "md5")
        if user is None:
            await login_guard.failed(store, account_id, client, "basic_auth", "invalid credentials")
            return None
        await login_guard.succeeded(store, account_id, client)
        return {"account_id": account_id, "owner_id": user["_id"], "method": "basic_auth"}

    async def _authorize(self, ctx: Context) -> None:
        """An account acts on itself and its descendants; superduper accounts act on all."""
        first, args = ctx.nouns[0]
        if first != "accounts" or not args:
            return
        account_id = args[0]
        if not is_id(account_id):
            raise _missing(f"invalid account_id '{account_id}'", account_id)
        if ctx.caller is None:
            raise Unauthorized()
        node = await self.platform.directory.get(account_id)
        if node is None:
            raise Missing(account_id)
        if not (ctx.caller.superduper or node.is_within(ctx.caller.account_id)):
            raise Forbidden({"message": "access to this account is denied"})
        ctx.account = node

    def _throttle(self, ctx: Context) -> None:
        account = ctx.account.id if ctx.account else ctx.who.account_id
        wait = self.buckets.take(ctx.client, account)
        if wait:
            raise Throttled({"message": "too many requests, slow down"}, retry_after=wait)

    def _success(self, ctx: Context, reply: Reply, pretty: bool) -> Answer:
        request_id = (b"x-request-id", envelope.header_value(ctx.request_id))
        if reply.raw is not None:
            reply.raw.headers = [*CORS_HEADERS, *reply.raw.headers, request_id]
            return reply.raw
        extra = envelope.encode(reply.headers) if reply.headers else []
        if ctx.wants_csv and isinstance(reply.data, (list, dict)):
            name = ctx.headers.get("x-file-name") or ctx.query.get("file_name") or f"{ctx.nouns[-1][0]}.csv"
            csv = envelope.csv_answer(reply.data, name)
            csv.headers = [*csv.headers, *CORS_HEADERS, *extra]
            return csv
        caller = ctx.caller
        body = envelope.base(ctx.request_id, caller.token if caller else "", self.settings.node, caller is not None)
        body["status"] = "success"
        body["data"] = reply.data
        if reply.extra:
            body.update(reply.extra)
        revision = reply.revision or _etag(reply.data)
        body["revision"] = revision
        if reply.paging is not None:
            body.update(reply.paging)
        headers = [*CORS_HEADERS, *extra, (b"etag", b'"%s"' % revision.encode("latin-1"))]
        wanted = ctx.headers.get("if-none-match")
        if wanted is not None and ctx.method == "GET" and wanted.strip('"') == revision:
            return Answer(304, headers)
        headers.append(request_id)
        return envelope.json_answer(body, reply.status, headers, pretty)

    def _failure(self, ctx: Context | None, request_id: str, failure: Failure, pretty: bool) -> Answer:
        caller = ctx.caller if ctx else None
        body = envelope.base(request_id, caller.token if caller else "", self.settings.node, caller is not None)
        body.update(status="error", error=str(failure.code), message=failure.message, data=failure.data)
        headers = [
            *CORS_HEADERS,
            *getattr(failure, "headers", ()),
            (b"x-request-id", envelope.header_value(request_id)),
        ]
        if isinstance(failure, Throttled):
            headers.append((b"retry-after", b"%d" % failure.retry_after))
        return envelope.json_answer(body, failure.code, headers, pretty)


def _raw_path(scope) -> str:
    """The path as sent: segments are decoded one by one, so an encoded `/` stays inside its segment."""
    raw = scope.get("raw_path")
    return raw.decode("latin-1").partition("?")[0] if raw else scope["path"]


def _has_nul(value) -> bool:
    """PostgreSQL text cannot hold U+0000; refusing it up front keeps ids and keys storable on every backend."""
    pending = [value]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return True
        elif isinstance(value, dict):
            pending.extend(value)
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return False


def _deeper_than(value, limit: int) -> bool:
    """Whether objects and arrays nest more than `limit` levels; a walk with its own stack, never recursion."""
    pending = [(value, 1)]
    while pending:
        value, depth = pending.pop()
        children = value.values() if isinstance(value, dict) else value
        for child in children:
            if isinstance(child, (dict, list)):
                if depth == limit:
                    return True
                pending.append((child, depth + 1))
    return False


def _missing(message: str, ident: str) -> Missing:
    missing = Missing(ident)
    missing.data = {"message": message, "cause": ident}
    return missing


def _etag(data) -> str:
    return hashlib.md5(envelope.dumps(data)).hexdigest()


def create_app(platform: Services) -> Front:
    return Front(Api(platform))


class Front:
    """The ASGI app: /v2 goes to the dispatcher, other paths to the UI build when one is served (else a 404
    envelope), lifespan events are acknowledged."""

    def __init__(self, api: Api):
        self.api = api
        self.serve = _counting(api.dispatch) if COUNT_SQL else api.dispatch
        settings = api.settings
        self.ui = UiFiles(settings.ui_dir, settings.public_url) if settings.ui_dir else None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            if scope["path"].startswith("/v2/"):
                answer = await self.serve(scope, receive)
            elif self.ui is not None and not scope["path"].startswith("/v1/"):  # old clients still hear why
                answer = await self.ui.answer(scope)
            else:
                answer = _not_found(scope)
            await answer.send(send)
        elif scope["type"] == "lifespan":
            await _lifespan(receive, send)


async def _read(receive, limit: int) -> bytes:
    """The whole request body, refused as soon as it grows over `limit` bytes."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ParseError({"message": "the client left before sending the whole body"})
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise TooLarge({"message": f"request body over {limit} bytes"})
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _lifespan(receive, send) -> None:
    """The CLI opens and closes the platform around the server, so there is nothing to start or stop here."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _counting(dispatch):
    """Report the SQL statements each request ran in `x-sql-statements` (CLOUDPBX_COUNT_SQL=1)."""

    async def counted(scope, receive) -> Answer:
        counter = [0]
        statements.set(counter)
        answer = await dispatch(scope, receive)
        answer.headers = [*answer.headers, (b"x-sql-statements", b"%d" % counter[0])]
        return answer

    return counted


def _not_found(scope) -> Answer:
    version = scope["path"].lstrip("/").split("/", 1)[0]
    message = "API version 1 is not supported, please use v2" if version == "v1" else "not found"
    body = envelope.base(secrets.token_hex(16), "", "", False)
    body.update(status="error", error="404", message="not_found", data={"message": message})
    return envelope.json_answer(body, 404, list(CORS_HEADERS))

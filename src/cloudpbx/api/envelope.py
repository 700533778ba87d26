"""Crossbar's response envelope, for successes and errors, as JSON or CSV, and the ASGI answer that carries it."""

from __future__ import annotations

import csv
import io
import random
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import orjson

from cloudpbx import __version__

Headers = list[tuple[bytes, bytes]]  # ASGI header pairs, names in lower case

# Monster UI parses error bodies only when the type is exactly application/json: no charset.
JSON_TYPE = (b"content-type", b"application/json")


class Answer:
    """A whole HTTP response, sent as the two ASGI messages; the header pairs are ready bytes."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: Headers, body: bytes = b""):
        self.status = status
        self.headers = headers
        self.body = body

    async def send(self, send) -> None:
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        await send({"type": "http.response.body", "body": self.body})


_VISIBLE = "".join(map(chr, range(0x20, 0x7F)))  # what a header value may hold as it is: printable ASCII


def header_value(value: str) -> bytes:
    """A value safe in any header: controls (CR, LF) and non-ASCII characters are percent-encoded (UTF-8).

    Ids and names come from clients; a raw CR/LF would split the response, a character outside Latin-1 would stop
    the server from writing it at all.
    """
    if value.isascii() and value.isprintable():
        return value.encode("ascii")
    return quote(value, safe=_VISIBLE).encode("ascii")


def encode(headers: dict[str, str]) -> Headers:
    return [(name.lower().encode("latin-1"), header_value(value)) for name, value in headers.items()]


def disposition(file_name: str) -> str:
    """`attachment` with the name as RFC 6266 asks: a plain ASCII `filename` for every client, and the exact name
    as RFC 8187 `filename*=UTF-8''...` when it is not plain ASCII."""
    plain = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in file_name)
    if plain == file_name:
        return f'attachment; filename="{plain}"'
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(file_name, safe='')}"


def answer(
    body: bytes, status: int = 200, media_type: str | None = None, headers: dict[str, str] | None = None
) -> Answer:
    """Header rules as HTTP frameworks apply them: a length except on 204/304, text types in UTF-8."""
    pairs = encode(headers) if headers else []
    if status not in (204, 304):
        pairs.append((b"content-length", str(len(body)).encode()))
    if media_type:
        if media_type.startswith("text/") and "charset=" not in media_type.lower():
            media_type += "; charset=utf-8"
        pairs.append((b"content-type", header_value(media_type)))
    return Answer(status, pairs, body)


def json_answer(body: dict, status: int, headers: Headers, pretty: bool = False) -> Answer:
    """`headers` is extended in place with the length and type."""
    payload = dumps(body, pretty)
    headers.append((b"content-length", b"%d" % len(payload)))
    headers.append(JSON_TYPE)
    return Answer(status, headers, payload)


def dumps(value: Any, pretty: bool = False) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 if pretty else 0)


def request_id() -> str:
    """32 hex characters; they label a request in logs and need not be secret."""
    return random.getrandbits(128).to_bytes(16, "big").hex()  # a quarter of the cost of f"{n:032x}"


_stamp: dict[int, str] = {}  # the second last formatted -> its text


def timestamp() -> str:
    """The current second in ISO 8601 (UTC), formatted once per second."""
    now = int(time.time())
    text = _stamp.get(now)
    if text is None:
        text = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        _stamp.clear()
        _stamp[now] = text
    return text


def base(request_id: str, auth_token: str, node: str, authenticated: bool) -> dict[str, Any]:
    if authenticated:
        return {
            "auth_token": auth_token,
            "request_id": request_id,
            "node": node,
            "timestamp": timestamp(),
            "version": __version__,
        }
    return {"auth_token": auth_token, "request_id": request_id, "node": node, "timestamp": timestamp()}


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what spreadsheets read as the start of a formula (OWASP)


def cell(value: Any) -> Any:
    """One CSV cell: JSON's spelling of true, false and null (empty); text that a spreadsheet would run as a
    formula gets a leading `'`, as OWASP advises for CSV injection. That includes E.164 numbers (`'+14155550100`):
    the quote keeps a spreadsheet from reading them as arithmetic and dropping the `+`. JSON numbers stay numbers."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"'{value}" if value.startswith(FORMULA_STARTS) else value
    return value


def _flatten(value: Any, out: dict[str, Any]) -> None:
    """Nested objects and lists become `a_b_0` columns; lists of scalars one comma-joined cell.

    Iterative, so no stored document is too deep to export."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        prefix, value = stack.pop()
        if isinstance(value, dict):
            items = [(f"{prefix}_{key}" if prefix else str(key), sub) for key, sub in value.items()]
        elif isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
            items = [(f"{prefix}_{i}", sub) for i, sub in enumerate(value)]
        else:
            out[cell(prefix)] = cell(",".join(_scalar(v) for v in value) if isinstance(value, list) else value)
            continue
        stack.extend(reversed(items))


def _scalar(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return cell(value)
    return str(value)


def csv_answer(rows: list[dict] | dict, file_name: str) -> Answer:
    """Objects flattened to columns; the header is the union of every row's columns, in first-seen order."""
    flat = []
    for row in rows if isinstance(rows, list) else [rows]:
        out: dict[str, Any] = {}
        _flatten(row, out)
        flat.append(out)
    columns: dict[str, None] = {}
    for row in flat:
        columns.update(dict.fromkeys(row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), restval="")
    writer.writeheader()
    writer.writerows(flat)
    return answer(
        buffer.getvalue().encode(), media_type="text/csv", headers={"content-disposition": disposition(file_name)}
    )

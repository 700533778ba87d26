"""Crossbar's response envelope, for successes and errors, as JSON or CSV, and the ASGI answer that carries it."""

from __future__ import annotations

import csv
import io
import random
import time
from datetime import datetime, timezone
from typing import Any

import orjson

from cloudpbx import __version__

Headers = list[tuple[bytes, bytes]]  # ASGI header pairs, names in lower case

# Monster UI parses error bodies only when the type is exactly application/json: no charset.
JSON_TYPE = (b"content-type", b"application/json")


class Answer:
    """A whole HTTP response, sent as the two ASGI messages; the header pairs are ready bytes."""

    __slots__ = ("status", "headers", "body")

    def __init__(self, status: int, headers: Headers, body: bytes = b""):
        self.status = status
        self.headers = headers
        self.body = body

    async def send(self, send) -> None:
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        await send({"type": "http.response.body", "body": self.body})


def encode(headers: dict[str, str]) -> Headers:
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]


def answer(body: bytes, status: int = 200, media_type: str | None = None,
           headers: dict[str, str] | None = None) -> Answer:
    """Header rules as HTTP frameworks apply them: a length except on 204/304, text types in UTF-8."""
    pairs = encode(headers) if headers else []
    if status not in (204, 304):
        pairs.append((b"content-length", str(len(body)).encode()))
    if media_type:
        if media_type.startswith("text/") and "charset=" not in media_type.lower():
            media_type += "; charset=utf-8"
        pairs.append((b"content-type", media_type.encode("latin-1")))
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


_stamp = [0, ""]  # the second last formatted, and its text


def timestamp() -> str:
    """The current second in ISO 8601 (UTC), formatted once per second."""
    now = int(time.time())
    if now != _stamp[0]:
        _stamp[:] = [now, datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")]
    return _stamp[1]


def base(request_id: str, auth_token: str, node: str, authenticated: bool) -> dict[str, Any]:
    if authenticated:
        return {"auth_token": auth_token, "request_id": request_id, "node": node, "timestamp": timestamp(),
                "version": __version__}
    return {"auth_token": auth_token, "request_id": request_id, "node": node, "timestamp": timestamp()}


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, sub in value.items():
            _flatten(sub, f"{prefix}_{key}" if prefix else str(key), out)
    elif isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        for i, sub in enumerate(value):
            _flatten(sub, f"{prefix}_{i}", out)
    elif isinstance(value, list):
        out[prefix] = ",".join(str(v) for v in value)
    else:
        out[prefix] = "" if value is None else value


def csv_answer(rows: list[dict] | dict, file_name: str) -> Answer:
    """Objects flattened to columns; the header is the union of every row's columns, in first-seen order."""
    flat = []
    for row in rows if isinstance(rows, list) else [rows]:
        out: dict[str, Any] = {}
        _flatten(row, "", out)
        flat.append(out)
    columns: dict[str, None] = {}
    for row in flat:
        columns.update(dict.fromkeys(row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), restval="")
    writer.writeheader()
    writer.writerows(flat)
    safe_name = file_name.replace('"', "")
    return answer(buffer.getvalue().encode(), media_type="text/csv",
                  headers={"content-disposition": f'attachment; filename="{safe_name}"'})

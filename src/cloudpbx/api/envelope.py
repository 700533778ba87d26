"""Crossbar's response envelope, for successes and errors, as JSON or CSV."""

from __future__ import annotations

import csv
import io
import random
import time
from datetime import datetime, timezone
from typing import Any

import orjson
from starlette.responses import Response

from cloudpbx import __version__


def dumps(value: Any, pretty: bool = False) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 if pretty else 0)


def request_id() -> str:
    """32 hex characters; they label a request in logs and need not be secret."""
    return f"{random.getrandbits(128):032x}"


_stamp = [0, ""]  # the second last formatted, and its text


def timestamp() -> str:
    """The current second in ISO 8601 (UTC), formatted once per second."""
    now = int(time.time())
    if now != _stamp[0]:
        _stamp[:] = [now, datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")]
    return _stamp[1]


def base(request_id: str, auth_token: str, node: str, authenticated: bool) -> dict[str, Any]:
    envelope = {
        "auth_token": auth_token,
        "request_id": request_id,
        "node": node,
        "timestamp": timestamp(),
    }
    if authenticated:
        envelope["version"] = __version__
    return envelope


def json_response(body: dict, status: int, headers: dict | None = None, pretty: bool = False) -> Response:
    # Monster UI parses error bodies only when the type is exactly application/json: no charset.
    # Starlette adds a charset only to text/* types.
    return Response(dumps(body, pretty), status_code=status, headers=headers, media_type="application/json")


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


def csv_response(rows: list[dict] | dict, file_name: str) -> Response:
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
    return Response(buffer.getvalue(), media_type="text/csv",
                    headers={"content-disposition": f'attachment; filename="{safe_name}"'})

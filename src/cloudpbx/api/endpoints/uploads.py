"""Binary uploads and downloads shared by the nouns that keep files (whitelabel images, media audio).

Clients send a file three ways: the raw bytes with their content type, a multipart/form-data form, or (Monster UI)
a data URL `data:<type>;base64,<bytes>` sent as `application/x-base64`. Downloads honour `Range: bytes=a-b`.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import re
from dataclasses import dataclass

from starlette.datastructures import Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from cloudpbx.api.context import Context
from cloudpbx.api.envelope import Answer, answer, disposition
from cloudpbx.errors import Invalid, TooLarge, UnsupportedType
from cloudpbx.store import Attachment

BASE64_TYPES = ("application/base64", "application/x-base64")
GENERIC_TYPES = ("", "application/octet-stream")
RANGE = re.compile(r"^bytes=([0-9]{0,15})-([0-9]{0,15})$")  # ASCII digits, short enough for any file size


@dataclass(frozen=True)
class Upload:
    content: bytes
    content_type: str
    filename: str | None = None


def media_type(header: str) -> str:
    """`Audio/MPEG; charset=x` → `audio/mpeg`."""
    return header.split(";", 1)[0].strip().lower()


async def read_upload(ctx: Context, accepted: tuple[str, ...], what: str, max_bytes: int | None = None) -> Upload:
    """The one file in the request body, of an accepted type; Crossbar's `file` validation errors otherwise."""
    raw = ctx.envelope.get("raw")
    if raw is None:
        raise Invalid.field("file", "required", f"Please provide {what}")
    header = ctx.envelope.get("content_type", "")
    kind = media_type(header)
    if kind == "multipart/form-data":
        upload = await _from_form(raw, header, what)
    elif kind in BASE64_TYPES:
        upload = _from_data_url(raw)
    else:
        if kind not in accepted:
            raise UnsupportedType({"message": f"content type {kind} is not accepted here", "accepted": list(accepted)})
        upload = Upload(raw, kind)
    if upload.content_type not in accepted:
        raise Invalid.field(
            "file", "enum", f"Please provide {what} of type {', '.join(accepted)}", value=upload.content_type
        )
    if max_bytes is not None and len(upload.content) > max_bytes:
        raise TooLarge(
            {"message": f"files are limited to {max_bytes} bytes", "target": max_bytes, "value": len(upload.content)}
        )
    if not upload.content:
        raise Invalid.field("file", "minLength", f"Please provide {what}: the file is empty")
    return upload


async def _from_form(raw: bytes, header: str, what: str) -> Upload:
    async def stream():
        yield raw

    try:
        form = await MultiPartParser(Headers({"content-type": header}), stream()).parse()
    except MultiPartException as exc:
        raise Invalid.field("file", "invalid", f"The form could not be read: {exc}") from exc
    files = [value for _, value in form.multi_items() if isinstance(value, UploadFile)]
    if not files:
        raise Invalid.field("file", "required", f"Please provide {what}")
    if len(files) > 1:
        raise Invalid.field("file", "maxItems", f"Please provide a single file, not {len(files)}")
    part = files[0]
    content = await part.read()
    await form.close()
    kind = media_type(part.content_type or "")
    if kind in GENERIC_TYPES and part.filename:
        kind = (mimetypes.guess_type(part.filename)[0] or kind).lower()
    return Upload(content, kind, part.filename)


def _from_data_url(raw: bytes) -> Upload:
    """`data:audio/mpeg;base64,SUQz...` (the type is unknown when only base64 text is sent)."""
    text = raw.decode("ascii", errors="replace").strip()
    kind = "application/octet-stream"
    if text.startswith("data:"):
        header, _, text = text.partition(",")
        kind = media_type(header[len("data:") :])
    try:
        return Upload(base64.b64decode(text, validate=True), kind)
    except (binascii.Error, ValueError) as exc:
        raise Invalid.field("file", "invalid", "The base64 content could not be decoded") from exc


def download(attachment: Attachment, range_header: str | None, filename: str) -> Answer:
    """The stored bytes with their content type; a single `Range: bytes=a-b` gets a 206 with that slice."""
    size = attachment.length
    headers = {"content-disposition": disposition(filename), "accept-ranges": "bytes"}
    wanted = _range(range_header, size)
    if wanted is None:
        return answer(attachment.content, media_type=attachment.content_type, headers=headers)
    if not wanted:  # ()
        return answer(b"", 416, headers=headers | {"content-range": f"bytes */{size}"})
    first, last = wanted
    headers["content-range"] = f"bytes {first}-{last}/{size}"
    return answer(attachment.content[first : last + 1], 206, attachment.content_type, headers)


def _range(header: str | None, size: int) -> tuple[int, int] | tuple[()] | None:
    """(first, last) to send; () when unsatisfiable; None for no range, or one we ignore (several ranges)."""
    match = RANGE.match((header or "").replace(" ", ""))
    if match is None or match.groups() == ("", ""):
        return None
    start, end = match.groups()
    if start == "":  # the last N bytes
        length = int(end)
        return (max(0, size - length), size - 1) if length and size else ()
    first = int(start)
    last = min(int(end), size - 1) if end else size - 1
    return (first, last) if first < size and first <= last else ()

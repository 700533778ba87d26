"""/v2/accounts/{A}/media: audio prompts; `/media/{M}/raw` uploads (binary, multipart form, or base64 data URL)
and downloads the audio, honouring `Range`."""

from __future__ import annotations

import mimetypes

from cloudpbx.accounts import media
from cloudpbx.accounts.media import MEDIA
from cloudpbx.api.context import Context, Reply
from cloudpbx.api.endpoints.base import ACCOUNT, DocumentEndpoint, doc_reply
from cloudpbx.api.endpoints.uploads import download, read_upload
from cloudpbx.api.paths import Op, Shape

RAW = "raw"


class Media(DocumentEndpoint):
    def body_limit(self, args: list[str]) -> int:
        """Room for the largest file sent as base64 (4/3 of its size) inside a form."""
        return media.MAX_BYTES * 4 // 3 + 64 * 1024 if args[-1:] == [RAW] else 0

    async def handle(self, ctx: Context) -> Reply:
        if len(ctx.args) != 2:
            return await super().handle(ctx)
        store, media_id = ctx.platform.store, ctx.args[0]
        if ctx.method == "POST":
            upload = await read_upload(ctx, media.CONTENT_TYPES, "a media file", media.MAX_BYTES)
            return doc_reply(await media.put_file(store, ctx.account_id, media_id, upload.content_type, upload.content))
        audio = await media.get_file(store, ctx.account_id, media_id)
        name = f"{media_id}{mimetypes.guess_extension(audio.content_type) or ''}"
        return Reply(None, raw=download(audio, ctx.headers.get("range"), name))


ENDPOINT = Media(
    MEDIA,
    Shape(
        f"{ACCOUNT}/media/{{id}}/{RAW}",
        {
            "GET": Op("Download the audio (Range honoured)", files=("audio/*",)),
            "POST": Op("Upload the audio", reply="media", upload=True),
        },
    ),
)

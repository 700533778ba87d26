"""/v2/accounts/{A}/whitelabel: branding and its logo, icon and welcome page.

`/v2/whitelabel/{domain}[/logo|icon|welcome]` is public: the portal asks for it before login (with the literal
header `X-Auth-Token: undefined`), so it never needs a token and an unknown domain is a plain 404.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping
from typing import ClassVar

from cloudpbx.accounts import whitelabel
from cloudpbx.accounts.whitelabel import FILES, WHITELABEL
from cloudpbx.api.context import Context, Reply
from cloudpbx.api.endpoints.base import ACCOUNT, Endpoint, doc_reply
from cloudpbx.api.endpoints.uploads import download, read_upload
from cloudpbx.api.paths import Arg, Op, Shape
from cloudpbx.store import Attachment

FILE_TYPES = ("image/*", "text/html")


def _public(ctx: Context) -> bool:
    return ctx.nouns[0][0] == "whitelabel"


class Whitelabel(Endpoint):
    noun = "whitelabel"
    args: ClassVar[Mapping[str, Arg]] = {
        "file": Arg(choices=tuple(FILES), description="which file of the branding"),
        "domain": Arg(r"^[A-Za-z0-9](?:[A-Za-z0-9.:-]{0,251}[A-Za-z0-9])?$", description="a host name"),
    }
    shapes = (
        Shape(
            f"{ACCOUNT}/whitelabel",
            {
                "GET": Op("Read the branding", reply="whitelabel"),
                "PUT": Op("Create the branding", "whitelabel", "whitelabel", 201),
                "POST": Op("Replace the branding", "whitelabel", "whitelabel"),
                "DELETE": Op("Remove the branding and its files", reply="whitelabel"),
            },
        ),
        Shape(
            f"{ACCOUNT}/whitelabel/{{file}}",
            {
                "GET": Op("Download the logo, icon or welcome page", files=FILE_TYPES),
                "POST": Op("Upload the logo, icon or welcome page", reply="whitelabel", upload=True),
            },
        ),
        Shape("whitelabel/{domain}", {"GET": Op("The branding serving a domain", reply="whitelabel", public=True)}),
        Shape(
            "whitelabel/{domain}/{file}",
            {"GET": Op("A file of the branding serving a domain", public=True, files=FILE_TYPES)},
        ),
    )

    async def handle(self, ctx: Context) -> Reply:
        if _public(ctx):
            return await self._by_domain(ctx)
        if ctx.args:
            return await self._file(ctx, ctx.args[0])
        return await self._document(ctx)

    async def _document(self, ctx: Context) -> Reply:
        docs, account_id = ctx.platform.documents, ctx.account_id
        if ctx.method == "GET":
            return doc_reply(await docs.get(WHITELABEL, account_id, whitelabel.DOC_ID))
        if ctx.method == "PUT":
            return doc_reply(await docs.create(WHITELABEL, account_id, ctx.data), 201)
        if ctx.method == "POST":
            return doc_reply(await docs.replace(WHITELABEL, account_id, whitelabel.DOC_ID, ctx.data))
        reply = doc_reply(await whitelabel.delete(ctx.platform.store, account_id))
        reply.data["_read_only"] = {"deleted": True}
        return reply

    async def _file(self, ctx: Context, name: str) -> Reply:
        store = ctx.platform.store
        if ctx.method == "GET":
            return _download(ctx, await whitelabel.get_file(store, ctx.account_id, name))
        what = "an html file" if name == "welcome" else "an image file"
        upload = await read_upload(ctx, FILES[name], what)
        return doc_reply(await whitelabel.put_file(store, ctx.account_id, name, upload.content_type, upload.content))

    async def _by_domain(self, ctx: Context) -> Reply:
        doc = await whitelabel.by_domain(ctx.platform.store, ctx.args[0])
        if len(ctx.args) == 1:
            return doc_reply(doc)
        return _download(ctx, await whitelabel.get_file(ctx.platform.store, doc["pvt_account_id"], ctx.args[1]))


def _download(ctx: Context, attachment: Attachment) -> Reply:
    extension = mimetypes.guess_extension(attachment.content_type) or ""
    return Reply(None, raw=download(attachment, ctx.headers.get("range"), f"{attachment.name}{extension}"))


ENDPOINT = Whitelabel()

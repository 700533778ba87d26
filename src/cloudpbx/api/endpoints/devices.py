"""/v2/accounts/{A}/devices: SIP endpoints; `with_status=true` adds registration state."""

from __future__ import annotations

from cloudpbx.accounts import devices
from cloudpbx.accounts.documents import row
from cloudpbx.accounts.kinds import DEVICE, USER
from cloudpbx.api import listing
from cloudpbx.api.context import Context, Reply
from cloudpbx.api.endpoints.base import ACCOUNT, DocumentEndpoint, doc_reply
from cloudpbx.api.endpoints.inherited import with_inherited
from cloudpbx.api.paths import Op, Shape


class Devices(DocumentEndpoint):
    async def list(self, ctx: Context) -> Reply:
        owner = ctx.parent("users")
        registered = ctx.platform.registrations.registered_ids(ctx.account_id) if ctx.flag("with_status") else None

        async def load(start, limit):
            docs = await ctx.platform.documents.list(self.kind, ctx.account_id, start, None if owner else limit)
            return [d for d in docs if devices.owner_id(d) == owner[0]] if owner else docs

        def device_row(doc: dict) -> dict:
            view = row(self.kind, doc)
            view["username"] = devices.sip_username(doc) or None
            if registered is not None:
                view["registrable"] = doc.get("device_type", "sip_device") not in ("mobile", "cellphone", "landline")
                view["registered"] = doc["_id"] in registered
            return view

        return await listing.respond(ctx, load, device_row)

    async def show(self, ctx: Context, doc_id: str) -> Reply:
        if not ctx.flag("include_inherited"):
            return await super().show(ctx, doc_id)  # the owner is read only to resolve inherited settings
        doc = await ctx.platform.documents.get(self.kind, ctx.account_id, doc_id)
        endpoints = [doc]
        owner_id = devices.owner_id(doc)
        owner = await ctx.platform.documents.find(USER, ctx.account_id, owner_id) if owner_id else None
        if owner is not None:
            endpoints.append(owner)
        return await with_inherited(ctx, doc_reply(doc), endpoints)


ENDPOINT = Devices(
    DEVICE,
    Shape(
        f"{ACCOUNT}/users/{{user_id}}/devices", {"GET": Op("The devices a user owns", reply="devices", listing=True)}
    ),
)

"""/v2/accounts/{A}/callflows: numbers and patterns with their flows; GET one adds names of what it points at."""

from __future__ import annotations

from cloudpbx.accounts.kinds import CALLFLOW
from cloudpbx.api.context import Context, Reply
from cloudpbx.api.endpoints.base import DocumentEndpoint, doc_reply


def _ids(node) -> set[str]:
    found = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("id", "owner_id") and isinstance(value, str):
                found.add(value)
            else:
                found |= _ids(value)
    elif isinstance(node, list):
        for item in node:
            found |= _ids(item)
    return found


class Callflows(DocumentEndpoint):
    async def show(self, ctx: Context, doc_id: str) -> Reply:
        doc = await ctx.platform.documents.get(self.kind, ctx.account_id, doc_id)
        reply = doc_reply(doc)
        named = await ctx.platform.documents.get_many(ctx.account_id, _ids(doc.get("flow")))
        reply.data["metadata"] = {
            ident: {
                "name": d.get("name") or " ".join(filter(None, [d.get("first_name"), d.get("last_name")])),
                "pvt_type": d.get("pvt_type"),
            }
            for ident, d in named.items()
        }
        return reply


ENDPOINT = Callflows(CALLFLOW)

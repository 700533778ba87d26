"""Branding (whitelabel): one document per account whose `domain` is unique platform-wide, plus three files.

The portal looks its branding up by the host name it is served on, before anyone logs in.
"""

from __future__ import annotations

from cloudpbx.accounts.documents import Kind, UniqueField
from cloudpbx.errors import Conflicting, Missing
from cloudpbx.store import Attachment, Conflict, Doc, Store, Tx, keys

DOC_ID = "whitelabel"
IMAGE_TYPES = ("image/jpg", "image/jpeg", "image/png", "image/gif", "image/svg+xml")
ICON_TYPES = IMAGE_TYPES + ("image/ico", "image/vnd.microsoft.icon", "image/x-icon", "image/icon")
FILES: dict[str, tuple[str, ...]] = {"logo": IMAGE_TYPES, "icon": ICON_TYPES, "welcome": ("text/html",)}


def _keys(account_id: str, doc: Doc) -> list[keys.Key]:
    domain = doc.get("domain")
    return [keys.whitelabel_domain(domain)] if isinstance(domain, str) and domain.strip() else []


WHITELABEL = Kind(
    name="whitelabel",
    type="whitelabel",
    fixed_id=DOC_ID,
    keys=_keys,
    unique={keys.WHITELABEL_DOMAIN: UniqueField("domain", "White label domain is already in use")},
)


async def _load(tx: Tx, account_id: str) -> Doc:
    doc = await tx.find(account_id, DOC_ID)
    if doc is None or doc.get("pvt_type") != WHITELABEL.type:
        raise Missing(DOC_ID)
    return doc


async def by_domain(store: Store, domain: str) -> Doc:
    """The whitelabel document serving `domain`, whoever owns it."""
    async with store.read() as tx:
        holder = await tx.lookup(*keys.whitelabel_domain(domain))
        doc = await tx.find(*holder) if holder else None
    if doc is None or doc.get("pvt_type") != WHITELABEL.type:
        raise Missing(domain)
    return doc


async def delete(store: Store, account_id: str) -> Doc:
    """Remove the branding for good (document, domain and files), so it can be created again."""
    async with store.write() as tx:
        doc = await _load(tx, account_id)
        await tx.purge(account_id, DOC_ID)
    return doc


async def put_file(store: Store, account_id: str, name: str, content_type: str, content: bytes) -> Doc:
    """Store one of the files; the document's revision moves so caches see the change."""
    async with store.write() as tx:
        doc = await _load(tx, account_id)
        try:
            saved = await tx.save(doc)
        except Conflict as exc:
            raise Conflicting() from exc
        await tx.put_attachment(account_id, DOC_ID, name, content_type, content)
    return saved


async def get_file(store: Store, account_id: str, name: str) -> Attachment:
    async with store.read() as tx:
        await _load(tx, account_id)
        found = await tx.get_attachment(account_id, DOC_ID, name)
    if found is None:
        raise Missing(name)
    return found

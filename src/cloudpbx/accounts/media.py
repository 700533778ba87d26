"""Audio prompts: media documents and the audio file each may hold.

`content_type` and `content_length` describe the stored file, so only an upload sets them.
"""

from __future__ import annotations

from cloudpbx import schemas
from cloudpbx.accounts.documents import Kind
from cloudpbx.errors import Conflicting, Missing
from cloudpbx.store import Attachment, Conflict, Doc, Store, Tx

FILE = "raw"  # the attachment name of a media document's audio
MAX_BYTES = schemas.load("media")["properties"]["content_length"]["maximum"]
CONTENT_TYPES = tuple(schemas.load("media")["properties"]["content_type"]["enum"])
FILE_FIELDS = ("content_type", "content_length")


async def _keep_file_fields(tx: Tx, account_id: str, doc: Doc, old: Doc | None) -> None:
    for key in FILE_FIELDS:
        if old is not None and key in old:
            doc[key] = old[key]
        else:
            doc.pop(key, None)


async def _drop_file(tx: Tx, account_id: str, doc: Doc) -> None:
    await tx.delete_attachment(account_id, doc["_id"])


MEDIA = Kind(name="media", type="media", prepare=_keep_file_fields, on_delete=_drop_file)


async def _load(tx: Tx, account_id: str, media_id: str) -> Doc:
    doc = await tx.find(account_id, media_id)
    if doc is None or doc.get("pvt_type") != MEDIA.type:
        raise Missing(media_id)
    return doc


async def put_file(store: Store, account_id: str, media_id: str, content_type: str, content: bytes) -> Doc:
    """Store the audio of a media document (replacing any) and describe it on the document."""
    async with store.write() as tx:
        doc = await _load(tx, account_id, media_id)
        doc.update(content_type=content_type, content_length=len(content), media_source="upload")
        try:
            saved = await tx.save(doc)
        except Conflict as exc:
            raise Conflicting() from exc
        await tx.put_attachment(account_id, media_id, FILE, content_type, content)
    return saved


async def get_file(store: Store, account_id: str, media_id: str) -> Attachment:
    async with store.read() as tx:
        await _load(tx, account_id, media_id)
        found = await tx.get_attachment(account_id, media_id, FILE)
    if found is None:
        raise Missing(media_id)
    return found

"""Storage of JSON documents per account (SQLite or PostgreSQL through SQLAlchemy 2)."""

from cloudpbx.store import keys
from cloudpbx.store.database import create_engine, default_url, migrate
from cloudpbx.store.documents import SYSTEM, Attachment, Doc, Store, Tx, load_row
from cloudpbx.store.errors import BadId, Conflict, NotFound, StoreError, Unavailable, UniqueViolation
from cloudpbx.store.ids import gregorian_now, is_id, is_name, new_id


async def open_store(url: str) -> Store:
    """Create the engine, apply migrations and return a ready store."""
    engine = create_engine(url)
    await migrate(engine)
    return Store(engine)


__all__ = [
    "SYSTEM",
    "Attachment",
    "BadId",
    "Conflict",
    "Doc",
    "NotFound",
    "Store",
    "StoreError",
    "Tx",
    "Unavailable",
    "UniqueViolation",
    "create_engine",
    "default_url",
    "gregorian_now",
    "is_id",
    "is_name",
    "keys",
    "load_row",
    "migrate",
    "new_id",
    "open_store",
]

"""Aggregate reads that count what an account tree holds, for service plans (`billing/quantities.py`).

Each read is one grouped query over the account at `path`, or its tree (it and every account below it), so
counting costs a few queries whatever the number of documents; JSON fields are read by the database (SQLite's
`json_extract`, PostgreSQL's `jsonb_extract_path_text`), never by loading documents one by one.
"""

from __future__ import annotations

from sqlalchemy import String, and_, case, cast, func, literal, or_, select
from sqlalchemy.dialects.postgresql import JSONB

from cloudpbx.store.documents import SYSTEM, Tx
from cloudpbx.store.tables import accounts, doc_keys, docs

NUMBER_KEY = "number"  # store/keys.py NUMBER: a number's holder
COUNTED = ("user", "device", "vmbox", "faxbox", "conference", "whitelabel")
GROUPED_BY = {"user": "priv_level", "device": "device_type"}  # types counted per value of a field
FEATURE_FIELDS = {  # number feature -> JSON path in the number document
    "e911": ("e911",),
    "outbound_cnam": ("cnam", "display_name"),
    "inbound_cnam": ("cnam", "inbound_lookup"),
    "prepend": ("prepend", "enabled"),
    "failover": ("failover",),
}
TRUNK_FIELDS = ("twoway_trunks", "inbound_trunks", "outbound_trunks")


def _field(tx: Tx, column, *path: str):
    """A JSON field of a stored body, as the database reads it (text on PostgreSQL, typed on SQLite)."""
    if tx.conn.dialect.name == "sqlite":
        return func.json_extract(column, "$." + ".".join(path))
    return func.jsonb_extract_path_text(cast(column, JSONB), *path)


def _scope(column, path: str, tree: bool):
    """The account at `path` alone, or with every account below it (its tree)."""
    if not tree:
        return column == path.rsplit("/", 1)[-1]
    below = select(accounts.c.account_id).where(
        or_(accounts.c.path == path, accounts.c.path.startswith(path + "/", autoescape=True))
    )
    return column.in_(below)


async def documents(tx: Tx, path: str, tree: bool) -> list[tuple[str, str, str | None, int]]:
    """(account, type, grouping value, count) of the live counted documents in the tree."""
    grouping = case(
        *(
            (docs.c.type == doc_type, cast(_field(tx, docs.c.body, name), String))
            for doc_type, name in GROUPED_BY.items()
        ),
        else_=literal(""),
    ).label("grouping")
    query = (
        select(docs.c.account_id, docs.c.type, grouping, func.count().label("n"))
        .where(_scope(docs.c.account_id, path, tree), docs.c.type.in_(COUNTED), docs.c.deleted.is_(False))
        .group_by(docs.c.account_id, docs.c.type, grouping)
    )
    return [(row.account_id, row.type, row.grouping, row.n) for row in await tx.conn.execute(query)]


async def numbers(tx: Tx, path: str, tree: bool) -> list[tuple[str, str, dict[str, object]]]:
    """(account, E.164, feature -> stored value) of every number the tree's accounts hold."""
    fields = [_field(tx, docs.c.body, *where).label(name) for name, where in FEATURE_FIELDS.items()]
    query = (
        select(doc_keys.c.account_id, doc_keys.c.key, *fields)
        .join(docs, and_(docs.c.account_id == SYSTEM, docs.c.id == doc_keys.c.key))
        .where(doc_keys.c.kind == NUMBER_KEY, _scope(doc_keys.c.account_id, path, tree), docs.c.deleted.is_(False))
    )
    rows = await tx.conn.execute(query)
    return [(row.account_id, row.key, {name: getattr(row, name) for name in FEATURE_FIELDS}) for row in rows]


async def trunks(tx: Tx, path: str, tree: bool) -> list[tuple[str, dict[str, object]]]:
    """(account, trunk field -> stored value) of each limits document in the tree."""
    fields = [_field(tx, docs.c.body, name).label(name) for name in TRUNK_FIELDS]
    query = select(docs.c.account_id, *fields).where(
        _scope(docs.c.account_id, path, tree), docs.c.type == "limits", docs.c.deleted.is_(False)
    )
    return [
        (row.account_id, {name: getattr(row, name) for name in TRUNK_FIELDS}) for row in await tx.conn.execute(query)
    ]


async def app_installs(tx: Tx, path: str, tree: bool, config_id: str) -> list[tuple[str, str | None]]:
    """(account, its installed apps as JSON text) of each apps configuration in the tree."""
    query = select(docs.c.account_id, cast(_field(tx, docs.c.body, "apps"), String).label("apps")).where(
        _scope(docs.c.account_id, path, tree), docs.c.id == config_id, docs.c.deleted.is_(False)
    )
    return [(row.account_id, row.apps) for row in await tx.conn.execute(query)]

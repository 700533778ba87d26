"""The ledgers migration (0008) builds exactly the tables the store's metadata describes, and goes down and up
again cleanly (on a temporary SQLite file)."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from cloudpbx.store.database import MIGRATIONS
from cloudpbx.store.tables import metadata

LEDGER_TABLES = {"ledger_entries", "ledger_balances"}


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def test_the_ledger_tables_match_the_metadata_and_migrate_down_and_up(tmp_path):
    url = f"sqlite:///{tmp_path / 'm.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        cfg = alembic_config(url)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0008_ledgers")
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
        ours = [d for d in diff if any(table in repr(d) for table in LEDGER_TABLES)]
        assert ours == [], ours
        command.downgrade(cfg, "0007_rates")
        assert not LEDGER_TABLES & set(inspect(conn).get_table_names())
        command.upgrade(cfg, "0008_ledgers")
        assert set(inspect(conn).get_table_names()) >= LEDGER_TABLES
        indexes = {ix["name"]: ix["unique"] for ix in inspect(conn).get_indexes("ledger_entries")}
        assert indexes == {"ledger_entries_by_source": False, "ledger_entries_by_key": True}
    engine.dispose()

"""The notifications and scheduler migration (0012) builds exactly the tables the store's metadata describes, and
goes down and up again cleanly (on a temporary SQLite file)."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from cloudpbx.store.tables import metadata
from tests.store.test_ledger_migration import alembic_config

TABLES = {"task_runs", "notify_outbox", "low_balance_alerts"}


def test_the_notify_tables_match_the_metadata_and_migrate_down_and_up(tmp_path):
    url = f"sqlite:///{tmp_path / 'm.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        cfg = alembic_config(url)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0012_notify")
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
        ours = [d for d in diff if any(table in repr(d) for table in TABLES)]
        assert ours == [], ours
        command.downgrade(cfg, "0008_ledgers")
        assert not TABLES & set(inspect(conn).get_table_names())
        command.upgrade(cfg, "0012_notify")
        assert set(inspect(conn).get_table_names()) >= TABLES
        indexes = {ix["name"] for ix in inspect(conn).get_indexes("notify_outbox")}
        assert indexes == {"notify_outbox_due", "notify_outbox_by_created"}
    engine.dispose()

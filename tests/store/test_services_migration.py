"""The service plans migration (0010) builds exactly the tables the store's metadata describes, and goes down and up
again cleanly (on a temporary SQLite file)."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from cloudpbx.store.tables import metadata
from tests.store.test_ledger_migration import alembic_config

SERVICE_TABLES = {"services_state", "services_audit"}


def test_the_services_tables_match_the_metadata_and_migrate_down_and_up(tmp_path):
    url = f"sqlite:///{tmp_path / 'm.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        cfg = alembic_config(url)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0010_services")
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
        ours = [d for d in diff if any(table in repr(d) for table in SERVICE_TABLES)]
        assert ours == [], ours
        command.downgrade(cfg, "0008_ledgers")
        assert not SERVICE_TABLES & set(inspect(conn).get_table_names())
        command.upgrade(cfg, "0010_services")
        assert set(inspect(conn).get_table_names()) >= SERVICE_TABLES
        indexes = {ix["name"] for ix in inspect(conn).get_indexes("services_audit")}
        assert indexes == {"services_audit_by_created"}
    engine.dispose()

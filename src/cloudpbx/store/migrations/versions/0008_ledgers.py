"""Ledgers: one row per balance change (`ledger_entries`) and one balance row per account (`ledger_balances`) moved in
the same transaction, so a balance is read without summing history."""

import sqlalchemy as sa
from alembic import op

revision = "0008_ledgers"
down_revision = "0007_rates"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_entries",
        sa.Column("account_id", sa.String(40), primary_key=True),
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("source", sa.String(24), nullable=False),
        sa.Column("source_id", sa.String(255), nullable=False),
        sa.Column("ledger_type", sa.String(8), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("usage_type", sa.String(64), nullable=False),
        sa.Column("usage_quantity", sa.BigInteger, nullable=False),
        sa.Column("usage_unit", sa.String(32), nullable=False),
        sa.Column("period_start", sa.BigInteger, nullable=True),
        sa.Column("period_end", sa.BigInteger, nullable=True),
        sa.Column("metadata", sa.Text, nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.Column("idem_key", sa.String(255), nullable=True),
        sa.Column("linked_account_id", sa.String(40), nullable=True),
        sa.Column("linked_id", sa.String(32), nullable=True),
    )
    op.create_index("ledger_entries_by_source", "ledger_entries", ["account_id", "source", "created", "id"])
    op.create_index("ledger_entries_by_key", "ledger_entries", ["account_id", "idem_key"], unique=True)
    op.create_table(
        "ledger_balances",
        sa.Column("account_id", sa.String(40), primary_key=True),
        sa.Column("balance", sa.BigInteger, nullable=False),
        sa.Column("month", sa.String(6), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ledger_balances")
    op.drop_index("ledger_entries_by_key", table_name="ledger_entries")
    op.drop_index("ledger_entries_by_source", table_name="ledger_entries")
    op.drop_table("ledger_entries")

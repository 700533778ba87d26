"""Documents, unique keys and the account tree."""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "docs",
        sa.Column("account_id", sa.String(40), primary_key=True),
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("rev", sa.String(48), nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.Column("modified", sa.BigInteger, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
    )
    op.create_index("docs_by_type", "docs", ["account_id", "type", "deleted", "id"])
    op.create_table(
        "doc_keys",
        sa.Column("kind", sa.String(40), primary_key=True),
        sa.Column("key", sa.String(512), primary_key=True),
        sa.Column("account_id", sa.String(40), nullable=False),
        sa.Column("doc_id", sa.String(64), nullable=False),
    )
    op.create_index("doc_keys_by_account", "doc_keys", ["account_id", "kind"])
    op.create_index("doc_keys_by_doc", "doc_keys", ["account_id", "doc_id"])
    op.create_table(
        "accounts",
        sa.Column("account_id", sa.String(40), primary_key=True),
        sa.Column("parent_id", sa.String(40), nullable=True),
        sa.Column("path", sa.String(4000), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("realm", sa.String(256), nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("superduper", sa.Boolean, nullable=False),
        sa.Column("reseller", sa.Boolean, nullable=False),
    )
    op.create_index("accounts_by_path", "accounts", ["path"], postgresql_ops={"path": "varchar_pattern_ops"})
    op.create_index("accounts_by_parent", "accounts", ["parent_id"])


def downgrade() -> None:
    op.drop_table("accounts")
    op.drop_table("doc_keys")
    op.drop_table("docs")

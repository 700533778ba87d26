"""Trunk usage: live carrier calls counted per account, process and kind, so deciding a call reads a few counters
instead of counting every lease of the account; a lease no longer expires by itself, its process's counters do."""

import sqlalchemy as sa
from alembic import op

revision = "0006_trunk_usage"
down_revision = "0005_trunk_leases"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trunk_usage",
        sa.Column("account_id", sa.String(40), primary_key=True),
        sa.Column("node", sa.String(128), primary_key=True),
        sa.Column("kind", sa.String(24), primary_key=True),
        sa.Column("calls", sa.Integer, nullable=False),
        sa.Column("expires", sa.Float, nullable=False),
    )
    op.create_index("trunk_usage_by_node", "trunk_usage", ["node"])
    op.create_index("trunk_usage_by_expiry", "trunk_usage", ["expires"])
    op.execute(
        "INSERT INTO trunk_usage (account_id, node, kind, calls, expires)"
        " SELECT account_id, node, kind, count(*), max(expires) FROM trunk_leases GROUP BY account_id, node, kind"
    )
    op.drop_index("trunk_leases_by_expiry", table_name="trunk_leases")
    with op.batch_alter_table("trunk_leases") as batch:
        batch.drop_column("expires")


def downgrade() -> None:
    with op.batch_alter_table("trunk_leases") as batch:
        batch.add_column(sa.Column("expires", sa.Float, nullable=False, server_default="0"))
    op.execute(
        "UPDATE trunk_leases SET expires = (SELECT max(u.expires) FROM trunk_usage u"
        " WHERE u.account_id = trunk_leases.account_id AND u.node = trunk_leases.node)"
    )
    op.create_index("trunk_leases_by_expiry", "trunk_leases", ["expires"])
    op.drop_table("trunk_usage")

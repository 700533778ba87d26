"""Trunk leases: the carrier calls each account (and reseller) has in progress, shared by every process."""

import sqlalchemy as sa
from alembic import op

revision = "0005_trunk_leases"
down_revision = "0004_login_throttle"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trunk_leases",
        sa.Column("account_id", sa.String(40), primary_key=True),
        sa.Column("call_id", sa.String(255), primary_key=True),
        sa.Column("owner_id", sa.String(40), nullable=False),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("node", sa.String(128), nullable=False),
        sa.Column("expires", sa.Float, nullable=False),
    )
    op.create_index("trunk_leases_by_node", "trunk_leases", ["node", "call_id"])
    op.create_index("trunk_leases_by_expiry", "trunk_leases", ["expires"])


def downgrade() -> None:
    op.drop_table("trunk_leases")

"""Per-minute billing: a lease keeps what its answered per-minute call costs and how to bill it if its process dies;
usage counters keep the running cost of their calls and the process's last renewal."""

import sqlalchemy as sa
from alembic import op

revision = "0009_per_minute"
down_revision = "0008_ledgers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("trunk_leases") as batch:
        batch.add_column(sa.Column("answered", sa.Float, nullable=True))
        batch.add_column(sa.Column("rate", sa.BigInteger, nullable=False, server_default="0"))
        batch.add_column(sa.Column("rate_offset", sa.BigInteger, nullable=False, server_default="0"))
        batch.add_column(sa.Column("billing", sa.Text, nullable=True))
    with op.batch_alter_table("trunk_usage") as batch:
        batch.add_column(sa.Column("rate", sa.BigInteger, nullable=False, server_default="0"))
        batch.add_column(sa.Column("rate_offset", sa.BigInteger, nullable=False, server_default="0"))
        batch.add_column(sa.Column("renewed", sa.Float, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("trunk_usage") as batch:
        for name in ("renewed", "rate_offset", "rate"):
            batch.drop_column(name)
    with op.batch_alter_table("trunk_leases") as batch:
        for name in ("billing", "rate_offset", "rate", "answered"):
            batch.drop_column(name)

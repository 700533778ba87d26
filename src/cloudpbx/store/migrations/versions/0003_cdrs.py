"""Call detail records per account and month."""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cdrs",
        sa.Column("account_id", sa.String(40), primary_key=True),
        sa.Column("month", sa.String(6), primary_key=True),
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.Column("interaction_id", sa.String(255), nullable=False),
        sa.Column("call_id", sa.Text, nullable=False),
        sa.Column("owner_id", sa.String(64), nullable=True),
        sa.Column("body", sa.Text, nullable=False),
    )
    op.create_index("cdrs_by_created", "cdrs", ["account_id", "created", "id"])
    op.create_index("cdrs_by_interaction", "cdrs", ["account_id", "interaction_id"])
    op.create_index("cdrs_by_owner", "cdrs", ["account_id", "owner_id", "created", "id"])


def downgrade() -> None:
    op.drop_table("cdrs")

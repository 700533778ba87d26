"""Auto-recharge state per account (`topup_attempts`)."""

import sqlalchemy as sa
from alembic import op

revision = "0013_topup"
down_revision = "0012_notify"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "topup_attempts",
        sa.Column("account_id", sa.String(40), primary_key=True),
        sa.Column("last_attempt", sa.BigInteger, nullable=False),
        sa.Column("pending_key", sa.String(255), nullable=True),
        sa.Column("pending_amount", sa.BigInteger, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("topup_attempts")

"""Payments: one row per card charge asked under an idempotency key (`payment_attempts`), so a duplicate submission,
from this process or another, never charges twice."""

import sqlalchemy as sa
from alembic import op

revision = "0011_payments"
down_revision = "0010_services"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "payment_attempts",
        sa.Column("account_id", sa.String(40), primary_key=True),
        sa.Column("idem_key", sa.String(255), primary_key=True),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("claimed_until", sa.BigInteger, nullable=False),
        sa.Column("transaction_id", sa.String(64), nullable=True),
        sa.Column("entry_id", sa.String(32), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("payment_attempts")

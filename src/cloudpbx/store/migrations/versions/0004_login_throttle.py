"""The login throttle's state and the audit of failed logins."""

import sqlalchemy as sa
from alembic import op

revision = "0004_login_throttle"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_throttle",
        sa.Column("account_id", sa.String(40), primary_key=True),
        sa.Column("client", sa.String(64), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("last_failure", sa.Float, nullable=False),
        sa.Column("locked_until", sa.Float, nullable=False),
    )
    op.create_table(
        "login_failures",
        sa.Column("account_id", sa.String(40), primary_key=True),
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
    )
    op.create_index("login_failures_by_created", "login_failures", ["account_id", "created", "id"])


def downgrade() -> None:
    op.drop_table("login_failures")
    op.drop_table("login_throttle")

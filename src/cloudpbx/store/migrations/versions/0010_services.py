"""Service plans: each account's last counted quantities and priced lines (`services_state`) and the audit of
their changes (`services_audit`)."""

import sqlalchemy as sa
from alembic import op

revision = "0010_services"
down_revision = "0009_per_minute"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "services_state",
        sa.Column("account_id", sa.String(40), primary_key=True),
        sa.Column("quantities", sa.Text, nullable=False),
        sa.Column("lines", sa.Text, nullable=False),
        sa.Column("modified", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "services_audit",
        sa.Column("account_id", sa.String(40), primary_key=True),
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("who", sa.String(80), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
    )
    op.create_index("services_audit_by_created", "services_audit", ["account_id", "created", "id"])


def downgrade() -> None:
    op.drop_index("services_audit_by_created", table_name="services_audit")
    op.drop_table("services_audit")
    op.drop_table("services_state")

"""Scheduler runs (`task_runs`), the notification outbox and delivery log (`notify_outbox`) and the low-balance alert
state (`low_balance_alerts`)."""

import sqlalchemy as sa
from alembic import op

revision = "0012_notify"
down_revision = "0011_payments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "task_runs",
        sa.Column("account_id", sa.String(40), primary_key=True),
        sa.Column("job", sa.String(64), primary_key=True),
        sa.Column("period", sa.String(32), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("node", sa.String(255), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("started", sa.BigInteger, nullable=False),
        sa.Column("finished", sa.BigInteger, nullable=True),
        sa.Column("lease_until", sa.BigInteger, nullable=False),
        sa.Column("cursor", sa.Text, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
    )
    op.create_index("task_runs_by_start", "task_runs", ["started"])
    op.create_table(
        "notify_outbox",
        sa.Column("account_id", sa.String(40), primary_key=True),
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("template_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt", sa.BigInteger, nullable=False),
        sa.Column("lease_until", sa.BigInteger, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.Column("last_attempt", sa.BigInteger, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("receipt", sa.Text, nullable=True),
    )
    op.create_index("notify_outbox_due", "notify_outbox", ["status", "next_attempt"])
    op.create_index("notify_outbox_by_created", "notify_outbox", ["account_id", "created", "id"])
    op.create_table(
        "low_balance_alerts",
        sa.Column("account_id", sa.String(40), primary_key=True),
        sa.Column("last_sent", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("low_balance_alerts")
    op.drop_index("notify_outbox_by_created", table_name="notify_outbox")
    op.drop_index("notify_outbox_due", table_name="notify_outbox")
    op.drop_table("notify_outbox")
    op.drop_index("task_runs_by_start", table_name="task_runs")
    op.drop_table("task_runs")

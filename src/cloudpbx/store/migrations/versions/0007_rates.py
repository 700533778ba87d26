"""Rate decks: one row per rate, costs in integer units, found by deck and prefix."""

import sqlalchemy as sa
from alembic import op

revision = "0007_rates"
down_revision = "0006_trunk_usage"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rates",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("ratedeck_id", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(20), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("iso_country_code", sa.String(8), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("rate_name", sa.Text, nullable=False),
        sa.Column("rate_cost", sa.BigInteger, nullable=False),
        sa.Column("rate_increment", sa.Integer, nullable=False),
        sa.Column("rate_minimum", sa.Integer, nullable=False),
        sa.Column("rate_surcharge", sa.BigInteger, nullable=False),
        sa.Column("rate_nocharge_time", sa.Integer, nullable=False),
        sa.Column("weight", sa.Integer, nullable=False),
    )
    op.create_index("rates_by_deck", "rates", ["ratedeck_id", "prefix", "id"])


def downgrade() -> None:
    op.drop_table("rates")

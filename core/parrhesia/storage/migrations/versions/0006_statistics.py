"""Statistics: anonymous yearly counters for the optional "who reports" questions.

The table has no report id, no date finer than the year and no row per person (see
parrhesia.storage.models.DemographicCount).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "demographic_counts",
        sa.Column("year", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("question", sa.String(32), primary_key=True),
        sa.Column("answer", sa.String(32), primary_key=True),
        sa.Column("count", sa.Integer(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_table("demographic_counts")

"""Routing plugins' last successful answers, used while a plugin fails.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "route_answers",
        sa.Column("plugin", sa.String(100), primary_key=True),
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("body_ids", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("route_answers")

"""Clocks that the law lets a body stop and restart.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("report_clocks") as batch:
        batch.add_column(sa.Column("pausable", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("paused_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("pause_reason", sa.String(500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("report_clocks") as batch:
        batch.drop_column("pause_reason")
        batch.drop_column("paused_on")
        batch.drop_column("pausable")

"""In-person and telephone intake: how a report was taken, and by which body.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reports") as table:
        table.add_column(sa.Column("intake", sa.String(16), nullable=True))
        table.add_column(sa.Column("intake_body", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reports") as table:
        table.drop_column("intake_body")
        table.drop_column("intake")

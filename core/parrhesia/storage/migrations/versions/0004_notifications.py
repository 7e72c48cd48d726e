"""Notifications: recipients' e-mail addresses and the batching queue.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("recipients") as batch:
        batch.add_column(sa.Column("email", sa.String(254), nullable=True))
    with op.batch_alter_table("report_clocks") as batch:
        batch.add_column(sa.Column("warned_on", sa.Date(), nullable=True))
    op.create_table(
        "notification_queue",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("recipient_id", sa.Integer(), sa.ForeignKey("recipients.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("created_on", sa.Date(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("notification_queue")
    with op.batch_alter_table("report_clocks") as batch:
        batch.drop_column("warned_on")
    with op.batch_alter_table("recipients") as batch:
        batch.drop_column("email")

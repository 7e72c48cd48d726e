"""Escalation history, legal holds and clock extensions.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report_escalations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("report_id", sa.String(32), sa.ForeignKey("reports.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("body_id", sa.String(64), nullable=True),
        sa.Column("trigger", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("on", sa.Date(), nullable=False),
    )
    with op.batch_alter_table("reports") as batch:
        batch.add_column(sa.Column("legal_hold", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("closed_on", sa.Date(), nullable=True))
    with op.batch_alter_table("report_clocks") as batch:
        batch.add_column(sa.Column("extension_reason", sa.String(500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("report_clocks") as batch:
        batch.drop_column("extension_reason")
    with op.batch_alter_table("reports") as batch:
        batch.drop_column("closed_on")
        batch.drop_column("legal_hold")
    op.drop_table("report_escalations")

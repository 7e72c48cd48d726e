"""Routing: escalation ranks, routing fields, clocks, plugin errors, fallback flag.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("report_bodies") as batch:
        batch.add_column(sa.Column("rank", sa.Integer(), nullable=True))
    with op.batch_alter_table("reports") as batch:
        batch.add_column(sa.Column("fallback_route", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        "report_fields",
        sa.Column("report_id", sa.String(32), sa.ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("value", sa.String(200), primary_key=True),
    )
    op.create_table(
        "report_clocks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("report_id", sa.String(32), sa.ForeignKey("reports.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("clock_id", sa.String(64), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("legal_source", sa.String(200), nullable=False),
        sa.Column("body_id", sa.String(64), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("extendable_to_months", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
    )
    op.create_table(
        "plugin_errors",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("occurred_on", sa.Date(), nullable=False),
        sa.Column("plugin", sa.String(100), nullable=False),
        sa.Column("hook", sa.String(100), nullable=False),
        sa.Column("error", sa.String(200), nullable=False),
        sa.Column("report_id", sa.String(32), sa.ForeignKey("reports.id", ondelete="SET NULL"), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("plugin_errors")
    op.drop_table("report_clocks")
    op.drop_table("report_fields")
    with op.batch_alter_table("reports") as batch:
        batch.drop_column("fallback_route")
    with op.batch_alter_table("report_bodies") as batch:
        batch.drop_column("rank")

"""Initial schema: recipients, reports, their route, sealed keys, parts, source sessions.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recipients",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("body_id", sa.String(64), nullable=False, index=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("public_key", sa.LargeBinary(32), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(32), nullable=False, unique=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_on", sa.Date(), nullable=False),
    )
    op.create_table(
        "reports",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("lookup_id", sa.LargeBinary(32), nullable=False, unique=True),
        sa.Column("public_key", sa.LargeBinary(32), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("created_on", sa.Date(), nullable=False),
        sa.Column("updated_on", sa.Date(), nullable=False),
    )
    op.create_table(
        "report_bodies",
        sa.Column("report_id", sa.String(32), sa.ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("body_id", sa.String(64), primary_key=True),
        sa.Column("role", sa.String(16), primary_key=True),
        sa.Column("reason", sa.String(500), nullable=True),
    )
    op.create_table(
        "sealed_keys",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("report_id", sa.String(32), sa.ForeignKey("reports.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("holder", sa.String(16), nullable=False),
        sa.Column("recipient_id", sa.Integer(), sa.ForeignKey("recipients.id", ondelete="CASCADE"), nullable=True, index=True),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "parts",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(32), nullable=False, unique=True),
        sa.Column("report_id", sa.String(32), sa.ForeignKey("reports.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("author", sa.String(16), nullable=False),
        sa.Column("recipient_id", sa.Integer(), sa.ForeignKey("recipients.id", ondelete="SET NULL"), nullable=True),
        sa.Column("blob", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_on", sa.Date(), nullable=False),
    )
    op.create_table(
        "source_sessions",
        sa.Column("token_hash", sa.LargeBinary(32), primary_key=True),
        sa.Column("report_id", sa.String(32), sa.ForeignKey("reports.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("created_on", sa.Date(), nullable=False),
    )


def downgrade() -> None:
    for table in ("source_sessions", "parts", "sealed_keys", "report_bodies", "reports", "recipients"):
        op.drop_table(table)

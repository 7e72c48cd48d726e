"""Protection requests.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "protection_requests",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("report_id", sa.String(32), sa.ForeignKey("reports.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("measure_id", sa.String(64), nullable=False),
        sa.Column("body_id", sa.String(64), nullable=False, index=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_on", sa.Date(), nullable=False),
        sa.Column("updated_on", sa.Date(), nullable=False),
        sa.Column("details_part_id", sa.String(32), nullable=True),
        sa.Column("identity_part_id", sa.String(32), nullable=True),
        sa.Column("identity_state", sa.String(24), nullable=False),
        sa.Column("disclosure_reason", sa.String(1000), nullable=True),
        sa.Column("disclosure_by", sa.String(64), nullable=True),
        sa.Column("disclosure_effective_on", sa.Date(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("protection_requests")

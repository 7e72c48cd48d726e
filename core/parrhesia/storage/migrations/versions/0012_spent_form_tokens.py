"""Single-use submission forms: digests of the tokens already used.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "spent_form_tokens",
        sa.Column("digest", sa.LargeBinary(32), primary_key=True),
        sa.Column("spent_on", sa.Date(), nullable=False, index=True),
    )


def downgrade() -> None:
    op.drop_table("spent_form_tokens")

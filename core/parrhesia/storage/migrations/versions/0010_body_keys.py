"""Body keys: reports sealed to bodies, whose keys members hand on to each other.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "body_keys",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("body_id", sa.String(64), nullable=False, index=True),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("public_key", sa.LargeBinary(32), nullable=False),
        sa.Column("previous_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("created_by", sa.Integer(), sa.ForeignKey("recipients.id", ondelete="SET NULL"), nullable=True),
        sa.Column("created_on", sa.Date(), nullable=False),
        sa.UniqueConstraint("body_id", "generation"),
    )
    op.create_table(
        "body_key_grants",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("body_key_id", sa.Integer(), sa.ForeignKey("body_keys.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("recipient_id", sa.Integer(), sa.ForeignKey("recipients.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("vouched_by", sa.Integer(), sa.ForeignKey("recipients.id", ondelete="SET NULL"), nullable=True),
        sa.Column("boxed", sa.LargeBinary(), nullable=False),
        sa.Column("created_on", sa.Date(), nullable=False),
        sa.UniqueConstraint("body_key_id", "recipient_id"),
    )
    with op.batch_alter_table("sealed_keys") as batch:
        batch.add_column(sa.Column("body_key_id", sa.Integer(), nullable=True))
        batch.create_index("ix_sealed_keys_body_key_id", ["body_key_id"])
        batch.create_foreign_key("fk_sealed_keys_body_key", "body_keys", ["body_key_id"], ["id"], ondelete="CASCADE")


def downgrade() -> None:
    with op.batch_alter_table("sealed_keys") as batch:
        batch.drop_constraint("fk_sealed_keys_body_key", type_="foreignkey")
        batch.drop_index("ix_sealed_keys_body_key_id")
        batch.drop_column("body_key_id")
    op.drop_table("body_key_grants")
    op.drop_table("body_keys")

"""The desk: recipient and operator log-ins, desk sessions, audit log, read markers.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("recipients") as batch:
        batch.add_column(sa.Column("login_name", sa.String(64), nullable=True))
        batch.add_column(sa.Column("password_hash", sa.String(255), nullable=True))
        batch.add_column(sa.Column("totp_secret", sa.String(64), nullable=True))
        batch.add_column(sa.Column("totp_last_step", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("role", sa.String(16), nullable=False, server_default="recipient"))
        batch.add_column(sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("locked_until", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("wrapped_key", sa.LargeBinary(), nullable=True))
        batch.create_unique_constraint("uq_recipients_login_name", ["login_name"])
    op.create_table(
        "operators",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("login_name", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("totp_secret", sa.String(64), nullable=False),
        sa.Column("totp_last_step", sa.BigInteger(), nullable=True),
        sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.Column("created_on", sa.Date(), nullable=False),
    )
    op.create_table(
        "desk_sessions",
        sa.Column("token_hash", sa.LargeBinary(32), primary_key=True),
        sa.Column("account", sa.String(40), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(40), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("report_id", sa.String(32), nullable=True, index=True),
        sa.Column("body_id", sa.String(64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    with op.batch_alter_table("report_clocks") as batch:
        batch.add_column(sa.Column("met_by", sa.String(32), nullable=True))
    with op.batch_alter_table("parts") as batch:
        batch.add_column(sa.Column("body_id", sa.String(64), nullable=True))
    with op.batch_alter_table("sealed_keys") as batch:
        batch.add_column(sa.Column("part_id", sa.String(32), nullable=True))
    op.create_table(
        "report_reads",
        sa.Column("recipient_id", sa.Integer(), sa.ForeignKey("recipients.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("report_id", sa.String(32), sa.ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("seen_seq", sa.Integer(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    for table in ("report_reads", "audit_log", "desk_sessions", "operators"):
        op.drop_table(table)
    for table, column in (("sealed_keys", "part_id"), ("parts", "body_id"), ("report_clocks", "met_by")):
        with op.batch_alter_table(table) as batch:
            batch.drop_column(column)
    with op.batch_alter_table("recipients") as batch:
        batch.drop_constraint("uq_recipients_login_name", type_="unique")
        for column in ("wrapped_key", "locked_until", "failed_logins", "role", "totp_last_step", "totp_secret",
                       "password_hash", "login_name"):
            batch.drop_column(column)

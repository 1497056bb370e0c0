"""Unrecognised mail: portal mail that matched no rule, kept for a later reclassification.

Revision ID: 0004_unrecognised_mail
Revises: 0003_outbox_dead_letter
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_unrecognised_mail"
down_revision = "0003_outbox_dead_letter"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=False)  # naive UTC; bot.store._types.UTCDateTime adds the zone


def upgrade() -> None:
    op.create_table(
        "unrecognised_mail",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("processed_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("mailbox", sa.String(255), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=False),
        sa.Column("uid", sa.BigInteger(), nullable=False),
        sa.Column("message_key", sa.String(255), nullable=False),
        sa.Column("sender", sa.String(320), nullable=False),
        sa.Column("accepted_as", sa.String(255), nullable=True),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("sent_at", TS, nullable=True),
        sa.Column("received_at", TS, nullable=True),
        sa.Column("order_ids", sa.JSON(), nullable=False),
        sa.Column("excerpt", sa.Text(), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("kept_at", TS, nullable=False),
        sa.Column("resolved_at", TS, nullable=True),
        sa.Column("resolved_kind", sa.String(64), nullable=True),
        sa.Column("resolution", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_unrecognised_mail"),
        sa.ForeignKeyConstraint(
            ["processed_id"],
            ["processed_messages.id"],
            name="fk_unrecognised_mail_processed_id_processed_messages",
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_unrecognised_mail_account_id_accounts"
        ),
        sa.UniqueConstraint("processed_id", name="uq_unrecognised_mail_processed_id"),
    )
    op.create_index("ix_unrecognised_mail_account_id", "unrecognised_mail", ["account_id"])


def downgrade() -> None:
    op.drop_index("ix_unrecognised_mail_account_id", table_name="unrecognised_mail")
    op.drop_table("unrecognised_mail")

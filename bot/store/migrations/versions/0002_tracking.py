"""Tracking: status-check and deadline columns on cases, pacing on accounts, scheduler lock.

Revision ID: 0002_tracking
Revises: 0001_initial
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_tracking"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=False)  # naive UTC; bot.store._types.UTCDateTime adds the zone


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("check_due_at", TS, nullable=True))
        batch.add_column(sa.Column("deadline_at", TS, nullable=True))
        batch.add_column(sa.Column("deadline_kind", sa.String(32), nullable=True))
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("next_action_at", TS, nullable=True))
        batch.add_column(sa.Column("orders_seen", sa.Integer(), nullable=True))
    op.create_table(
        "scheduler_lock",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("acquired_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_scheduler_lock"),
    )


def downgrade() -> None:
    op.drop_table("scheduler_lock")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("orders_seen")
        batch.drop_column("next_action_at")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("deadline_kind")
        batch.drop_column("deadline_at")
        batch.drop_column("check_due_at")

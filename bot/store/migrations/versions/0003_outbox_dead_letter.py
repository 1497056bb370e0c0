"""Outbox dead letters: `dead_at` on outbox rows whose retry budget is used up.

Revision ID: 0003_outbox_dead_letter
Revises: 0002_tracking
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_outbox_dead_letter"
down_revision = "0002_tracking"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=False)  # naive UTC; bot.store._types.UTCDateTime adds the zone


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("dead_at", TS, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("dead_at")

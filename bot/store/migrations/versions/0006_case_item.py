"""The item line a refund case asks for: `cases.item_line` (1-based; NULL: the first line
without a request, as before).

Revision ID: 0006_case_item
Revises: 0005_tick_indexes
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_case_item"
down_revision = "0005_tick_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("item_line", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("item_line")

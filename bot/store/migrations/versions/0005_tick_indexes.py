"""Indexes for the scheduler's ticks on a large store (benchmarks/store.py, issue 10).

* `ix_cases_state_check_due` (state, check_due_at): the status-check tick's "cases in these
  states whose check is due" becomes index range scans instead of reading every tracked case;
* `ix_cases_leased` (lease_expires_at WHERE lease_owner IS NOT NULL, a partial index): the
  dispatch tick's "expired leases", the status tick's "live leases" and the claim's "no leased
  sibling" read only the leased cases (a handful) instead of scanning the table. Partial, so
  that SQLite's statistics do not count the many unleased rows (NULL) as one value and prefer
  a table scan in id order.

Revision ID: 0005_tick_indexes
Revises: 0004_unrecognised_mail
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_tick_indexes"
down_revision = "0004_unrecognised_mail"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_cases_state_check_due", "cases", ["state", "check_due_at"])
    leased = sa.text("lease_owner IS NOT NULL")
    op.create_index(
        "ix_cases_leased", "cases", ["lease_expires_at"], sqlite_where=leased, postgresql_where=leased
    )


def downgrade() -> None:
    op.drop_index("ix_cases_leased", table_name="cases")
    op.drop_index("ix_cases_state_check_due", table_name="cases")

"""Initial schema: accounts, cases, attempts, events, evidence, mail state, outbox.

Revision ID: 0001_initial
Revises:
Create Date: 2024-06-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=False)  # naive UTC; bot.store._types.UTCDateTime adds the zone
MONEY = sa.String(40)  # Decimal as exact text


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("mailbox_user", sa.String(254), nullable=True),
        sa.Column("locale", sa.String(16), nullable=False),
        sa.Column("portal", sa.String(32), nullable=False),
        sa.Column("password_ref", sa.String(160), nullable=False),
        sa.Column("totp_ref", sa.String(160), nullable=True),
        sa.Column("mailbox_password_ref", sa.String(160), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_accounts"),
        sa.UniqueConstraint("name", name="uq_accounts_name"),
        sa.CheckConstraint(
            "password_ref LIKE 'env:%' OR password_ref LIKE 'file:%'",
            name="ck_accounts_password_is_ref",
        ),
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.String(19), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("refund_type", sa.String(32), nullable=True),
        sa.Column("amount", MONEY, nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("evidence_folder", sa.Text(), nullable=True),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("lease_owner", sa.String(128), nullable=True),
        sa.Column("lease_expires_at", TS, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("session_attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TS, nullable=True),
        sa.Column("submit_intent_at", TS, nullable=True),
        sa.Column("portal_request_ref", sa.String(128), nullable=True),
        sa.Column("outcome_at", TS, nullable=True),
        sa.Column("outcome_amount", MONEY, nullable=True),
        sa.Column("outcome_note", sa.Text(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_cases"),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name="fk_cases_account_id_accounts"),
        sa.UniqueConstraint("account_id", "order_id", "kind", name="uq_cases_account_id_order_id_kind"),
    )
    op.create_index("ix_cases_state_due", "cases", ["state", "next_attempt_at"])
    op.create_index("ix_cases_account_lease", "cases", ["account_id", "lease_expires_at"])

    op.create_table(
        "attempts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(128), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=False),
        sa.Column("action", sa.String(16), nullable=True),
        sa.Column("error_type", sa.String(64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", TS, nullable=True),
        sa.Column("budget_exhausted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_attempts"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_attempts_case_id_cases"),
        sa.UniqueConstraint("case_id", "number", name="uq_attempts_case_id_number"),
    )
    op.create_table(
        "case_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("from_state", sa.String(32), nullable=True),
        sa.Column("to_state", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_case_events"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_case_events_case_id_cases"),
    )
    op.create_index("ix_case_events_case_id_id", "case_events", ["case_id", "id"])
    _append_only("case_events")

    op.create_table(
        "evidence",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("step", sa.String(64), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("captured_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_evidence"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_evidence_case_id_cases"),
        sa.UniqueConstraint("case_id", "path", name="uq_evidence_case_id_path"),
    )
    op.create_table(
        "mail_cursors",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("mailbox", sa.String(255), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=False),
        sa.Column("last_uid", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_mail_cursors"),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name="fk_mail_cursors_account_id_accounts"),
        sa.UniqueConstraint("account_id", "mailbox", name="uq_mail_cursors_account_id_mailbox"),
    )
    op.create_table(
        "processed_messages",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("mailbox", sa.String(255), nullable=False),
        sa.Column("message_key", sa.String(255), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("classification", sa.String(64), nullable=True),
        sa.Column("processed_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_processed_messages"),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_processed_messages_account_id_accounts"
        ),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_processed_messages_case_id_cases"),
        sa.UniqueConstraint(
            "account_id",
            "mailbox",
            "message_key",
            name="uq_processed_messages_account_id_mailbox_message_key",
        ),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_try_at", TS, nullable=False),
        sa.Column("delivered_at", TS, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.ForeignKeyConstraint(["event_id"], ["case_events.id"], name="fk_outbox_event_id_case_events"),
        sa.UniqueConstraint("event_id", "target", name="uq_outbox_event_id_target"),
    )
    op.create_index("ix_outbox_due", "outbox", ["delivered_at", "next_try_at"])


def _append_only(table: str) -> None:
    """Refuse UPDATE and DELETE on `table` inside the database itself."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE OR REPLACE FUNCTION recoup_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"
        )
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION recoup_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )


def downgrade() -> None:
    for name in ("outbox", "processed_messages", "mail_cursors", "evidence"):
        op.drop_table(name)
    op.drop_index("ix_case_events_case_id_id", table_name="case_events")
    op.drop_table("case_events")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS recoup_append_only()")
    op.drop_table("attempts")
    op.drop_index("ix_cases_account_lease", table_name="cases")
    op.drop_index("ix_cases_state_due", table_name="cases")
    op.drop_table("cases")
    op.drop_table("accounts")

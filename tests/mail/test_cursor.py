"""Pure logic of the (mailbox, UIDVALIDITY, last UID) cursor."""

from __future__ import annotations

import pytest

from bot.mail.cursor import MailCursor, PlanReason, advance, plan_fetch


def test_first_poll_fetches_everything_by_default() -> None:
    plan = plan_fetch(None, "INBOX", 77, 10)
    assert plan.reason is PlanReason.FIRST
    assert plan.fetch and not plan.reset
    assert plan.after_uid == 0
    assert plan.cursor == MailCursor("INBOX", 77, 0)


def test_first_poll_without_backfill_starts_at_the_end() -> None:
    plan = plan_fetch(None, "INBOX", 77, 10, backfill=False)
    assert plan.after_uid == 9 and plan.fetch


def test_same_uidvalidity_continues_after_the_last_uid() -> None:
    stored = MailCursor("INBOX", 77, 5)
    plan = plan_fetch(stored, "INBOX", 77, 9)
    assert plan.reason is PlanReason.CONTINUE
    assert plan.after_uid == 5 and plan.fetch and not plan.reset


def test_uidnext_right_after_cursor_means_nothing_new() -> None:
    plan = plan_fetch(MailCursor("INBOX", 77, 8), "INBOX", 77, 9)
    assert plan.reason is PlanReason.UP_TO_DATE
    assert not plan.fetch
    assert plan.cursor == MailCursor("INBOX", 77, 8)


def test_unknown_uidnext_always_fetches() -> None:
    plan = plan_fetch(MailCursor("INBOX", 77, 8), "INBOX", 77, None)
    assert plan.reason is PlanReason.CONTINUE and plan.fetch


def test_uidvalidity_change_resets_to_zero_and_asks_for_dedupe() -> None:
    plan = plan_fetch(MailCursor("INBOX", 77, 40), "INBOX", 78, 3)
    assert plan.reason is PlanReason.UIDVALIDITY_CHANGED
    assert plan.reset and plan.fetch
    assert plan.cursor == MailCursor("INBOX", 78, 0)


def test_uids_going_back_without_new_uidvalidity_resets_too() -> None:
    plan = plan_fetch(MailCursor("INBOX", 77, 40), "INBOX", 77, 12)
    assert plan.reason is PlanReason.UIDS_WENT_BACK
    assert plan.reset and plan.after_uid == 0


def test_another_mailbox_starts_fresh() -> None:
    plan = plan_fetch(MailCursor("INBOX", 77, 40), "Archive", 77, 50)
    assert plan.reason is PlanReason.FIRST
    assert plan.cursor == MailCursor("Archive", 77, 0)


def test_advance_moves_to_the_highest_handled_uid_and_never_back() -> None:
    cursor = MailCursor("INBOX", 77, 5)
    moved = advance(cursor, [7, 6, 9])
    assert moved == MailCursor("INBOX", 77, 9)
    assert advance(moved, [3, 4]) is moved
    assert advance(moved, []) is moved


def test_invalid_values_are_refused() -> None:
    with pytest.raises(ValueError):
        MailCursor("INBOX", 0, 1)
    with pytest.raises(ValueError):
        MailCursor("INBOX", 5, -1)
    with pytest.raises(ValueError):
        plan_fetch(None, "INBOX", 0, 1)

"""The mail poller against real Dovecot (LMTP in, IMAP out) and the store on both databases."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from imapclient import IMAPClient
from sqlalchemy import func, select

from bot.config import Settings
from bot.errors import MailUnavailableError, SecretMissingError
from bot.mail.classify import MailSignal
from bot.mail.effects import TRUSTED_NOTE
from bot.mail.poller import MailPoller, PollResult
from bot.models import Account, CaseKind, NewCase
from bot.states import CaseState
from bot.store import Store
from bot.store._tables import ProcessedMessageRow
from flows.pack import Pack
from tests.fixtures.mail import Mailbox, make_message
from tests.mail.hostile import HOSTILE
from tests.mail.test_sender import FORGED_FROM
from tests.tracking.conftest import (
    MAILBOX_PW_VAR,
    FrozenClock,
    add_account,
    make_poller,
    next_order_id,
    portal_mail,
    raw_mail,
    send,
    submitted_case,
)

pytestmark = pytest.mark.e2e


def _events(store: Store, case_id: int, kind: str) -> list[dict[str, object]]:
    return [e.detail for e in store.cases.history(case_id) if e.kind == kind]


def _check_due(store: Store, case_id: int) -> object:
    return next(r.check_due_at for r in store.reporting.case_rows() if r.id == case_id)


def _processed(store: Store) -> int:
    with store.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(ProcessedMessageRow)).scalar_one())


def _flags(box: Mailbox) -> list[tuple[bytes, ...]]:
    with IMAPClient(box.server.host, box.server.imap_port, ssl=False) as other:
        other.login(box.email, box.password)
        other.select_folder("INBOX", readonly=True)
        return [data[b"FLAGS"] for data in other.fetch(other.search("ALL"), ["FLAGS"]).values()]


def test_burst_of_forty_mails_is_processed_once_each(
    store: Store, pack: Pack, mailbox: Mailbox, clock: FrozenClock
) -> None:
    add_account(store, "alice", mailbox.email)
    cases = [submitted_case(store, "alice") for _ in range(20)]
    poller = make_poller(store, pack, mailbox, clock)
    steps = ["Ready to ship", "Order shipped"]
    for case in cases[:10]:
        send(mailbox, portal_mail(mailbox, f"Order {case.order_id}: {steps[0]}", case.order_id))
    first = poller.poll_account("alice")
    for case in cases[10:]:
        send(mailbox, portal_mail(mailbox, f"Order {case.order_id}: {steps[0]}", case.order_id))
    for case in cases:
        send(mailbox, portal_mail(mailbox, f"Order {case.order_id}: {steps[1]}", case.order_id))
    second = poller.poll_account("alice")
    third = poller.poll_account("alice")

    assert (first.fetched, first.applied) == (10, 10)
    assert (second.fetched, second.applied, second.ignored, second.duplicates) == (30, 30, 0, 0)
    assert third.fetched == 0
    for case in cases:
        signals = Counter(str(d["signal"]) for d in _events(store, case.id, "status_check_requested"))
        assert signals == {"ready_to_ship": 1, "order_shipped": 1}, case.order_id
        assert store.cases.get(case.id).state is CaseState.SUBMITTED
        assert _check_due(store, case.id) == clock.now
    assert _processed(store) == 40
    cursor = store.mail.get_cursor(cases[0].account_id, "INBOX")
    assert cursor is not None and cursor.last_uid == 40
    assert all(b"\\Seen" not in flags for flags in _flags(mailbox))


def test_crash_mid_batch_loses_and_repeats_nothing(
    store: Store, pack: Pack, mailbox: Mailbox, clock: FrozenClock
) -> None:
    account = add_account(store, "alice", mailbox.email)
    cases = [submitted_case(store, "alice") for _ in range(10)]
    for case in cases:
        send(mailbox, portal_mail(mailbox, f"Order {case.order_id}: Delivered", case.order_id))

    seen: list[int] = []

    def crash_on_sixth(signal: MailSignal, uid: int) -> None:
        seen.append(uid)
        if uid == 6:
            raise RuntimeError("simulated crash inside the effect of message 6")

    crashing = make_poller(store, pack, mailbox, clock, effect_hook=crash_on_sixth)
    with pytest.raises(RuntimeError, match="simulated crash"):
        crashing.poll_account("alice")
    assert seen == [1, 2, 3, 4, 5, 6]
    cursor = store.mail.get_cursor(account.id or 0, "INBOX")
    assert cursor is not None and cursor.last_uid == 5
    assert [len(_events(store, c.id, "status_check_requested")) for c in cases] == [1] * 5 + [0] * 5

    restarted = make_poller(store, pack, mailbox, clock)
    result = restarted.poll_account("alice")
    assert (result.fetched, result.applied, result.duplicates) == (5, 5, 0)
    assert [len(_events(store, c.id, "status_check_requested")) for c in cases] == [1] * 10
    assert _processed(store) == 10
    assert restarted.poll_account("alice").fetched == 0


def test_uidvalidity_change_loses_and_repeats_nothing(
    store: Store, pack: Pack, mailbox: Mailbox, clock: FrozenClock
) -> None:
    account = add_account(store, "alice", mailbox.email)
    cases = [submitted_case(store, "alice") for _ in range(5)]
    for case in cases[:3]:
        send(mailbox, portal_mail(mailbox, f"Order {case.order_id}: Order shipped", case.order_id))
    poller = make_poller(store, pack, mailbox, clock)
    assert poller.poll_account("alice").applied == 3
    before = store.mail.get_cursor(account.id or 0, "INBOX")
    assert before is not None

    mailbox.server.doveadm(
        "mailbox", "update", "-u", mailbox.email, "--uid-validity", str(before.uidvalidity + 1000), "INBOX"
    )
    for case in cases[3:]:
        send(mailbox, portal_mail(mailbox, f"Order {case.order_id}: Order shipped", case.order_id))
    result = poller.poll_account("alice")

    assert (result.fetched, result.duplicates, result.applied) == (5, 3, 2)
    after = store.mail.get_cursor(account.id or 0, "INBOX")
    assert after is not None and after.uidvalidity == before.uidvalidity + 1000 and after.last_uid == 5
    assert [len(_events(store, c.id, "status_check_requested")) for c in cases] == [1] * 5
    assert poller.poll_account("alice").fetched == 0


def test_foreign_forged_malformed_and_unknown_mail_is_ignored_without_error(
    store: Store, pack: Pack, mailbox: Mailbox, clock: FrozenClock
) -> None:
    add_account(store, "alice", mailbox.email)
    case = submitted_case(store, "alice")
    oid = case.order_id
    forged = [
        "AliExpress <transaction@notice.aliexpress.com.evil.test>",
        "AliExpress <transaction@evil.test>",
        '"transaction@notice.aliexpress.com" <phish@evil.test>',
        "AliExpress <transaction@notice-aliexpress.com>",
    ]
    for sender in forged:
        send(mailbox, portal_mail(mailbox, f"Order {oid}: Cancellation approved", oid, sender=sender))
    # display-name tricks the email package cannot even write: raw headers
    for sender in FORGED_FROM.values():
        send(mailbox, raw_mail(mailbox, f"Order {oid}: Cancellation approved", oid, sender))
    send(mailbox, make_message(f"Re: your order {oid}", "not from the portal", to=mailbox.email,
                               sender="Friend <friend@example.test>"))  # fmt: skip
    for raw in HOSTILE.values():
        send(mailbox, raw)
    send(mailbox, portal_mail(mailbox, "Big savings this weekend!"))  # portal, but no rule
    send(mailbox, portal_mail(mailbox, "Order 12345: Cancellation approved"))  # no valid id anywhere
    send(mailbox, portal_mail(mailbox, "Your AliExpress verification code", None))  # login code
    total = 4 + len(FORGED_FROM) + 1 + len(HOSTILE) + 3

    result = make_poller(store, pack, mailbox, clock).poll_account("alice")

    assert (result.fetched, result.ignored, result.applied, result.duplicates) == (total, total, 0, 0)
    assert store.cases.get(case.id).state is CaseState.SUBMITTED
    assert _events(store, case.id, "status_check_requested") == []
    assert _check_due(store, case.id) is None
    # a genuine mail afterwards still rings the doorbell (the page decides the state)
    send(mailbox, portal_mail(mailbox, f"Order {oid}: Cancellation approved", oid))
    assert make_poller(store, pack, mailbox, clock).poll_account("alice").applied == 1
    assert store.cases.get(case.id).state is CaseState.SUBMITTED
    assert [d["hint"] for d in _events(store, case.id, "status_check_requested")] == ["approved"]
    assert _check_due(store, case.id) == clock.now


def test_closed_mail_requests_a_status_check_and_never_approves(
    store: Store, pack: Pack, mailbox: Mailbox, clock: FrozenClock
) -> None:
    add_account(store, "alice", mailbox.email)
    cancel = submitted_case(store, "alice")
    refund = submitted_case(store, "alice", CaseKind.REFUND)
    both = next_order_id()
    cancel_b = submitted_case(store, "alice", order_id=both)
    refund_b = submitted_case(store, "alice", CaseKind.REFUND, order_id=both)
    for oid in (cancel.order_id, refund.order_id, both):
        send(mailbox, portal_mail(mailbox, f"Your order {oid} is closed", oid))
    clock.advance(60)

    result = make_poller(store, pack, mailbox, clock).poll_account("alice")

    assert result.applied == 3
    for case in (cancel, refund, cancel_b, refund_b):
        history = store.cases.history(case.id)
        assert store.cases.get(case.id).state is CaseState.SUBMITTED
        assert not any(e.to_state is CaseState.APPROVED for e in history)
        checks = [e for e in history if e.kind == "status_check_requested"]
        assert len(checks) == 1 and checks[0].detail["signal"] == "closed_needs_check"
        assert checks[0].from_state is checks[0].to_state is CaseState.SUBMITTED
        assert _check_due(store, case.id) == clock.now


def test_exact_address_outcome_mails_move_no_case_and_only_request_checks(
    store: Store, pack: Pack, mailbox: Mailbox, clock: FrozenClock
) -> None:
    """Anyone can send a mail with the portal's exact From address: an outcome mail rings the
    doorbell (a status check due now, its hint recorded) and moves nothing; the page decides."""
    add_account(store, "alice", mailbox.email)
    approved = submitted_case(store, "alice")
    rejected = submitted_case(store, "alice")
    refunded = submitted_case(store, "alice", CaseKind.REFUND)
    refund_rejected = submitted_case(store, "alice", CaseKind.REFUND)
    countered = submitted_case(store, "alice", CaseKind.REFUND)
    escalated = submitted_case(store, "alice", CaseKind.REFUND)
    wrong_kind = submitted_case(store, "alice", CaseKind.REFUND)  # a cancel mail for a refund case
    mails = [
        (approved, "Cancellation approved", "approved"),
        (rejected, "Cancellation rejected", "rejected"),
        (refunded, "Refund complete", "refunded"),
        (refund_rejected, "Refund request rejected", "rejected"),
        (countered, "Seller proposed a solution", "counter_offer"),
        (escalated, "Dispute escalated to AliExpress", None),
        (wrong_kind, "Cancellation approved", None),
    ]
    auth = ("Authentication-Results: mx.buyer.test; dkim=pass header.d=notice.aliexpress.com; "
            "spf=pass smtp.mailfrom=notice.aliexpress.com; dmarc=pass header.from=notice.aliexpress.com")
    for case, step, _ in mails:
        mail = portal_mail(mailbox, f"Order {case.order_id}: {step}", case.order_id)
        send(mailbox, auth.encode() + b"\r\n" + mail)
    clock.advance(60)
    result = make_poller(store, pack, mailbox, clock).poll_account("alice")

    assert result.applied == len(mails)
    for case, _, hint in mails:
        assert store.cases.get(case.id).state is CaseState.SUBMITTED
        assert [e for e in store.cases.history(case.id) if e.kind == "mail_outcome"] == []
        [check] = _events(store, case.id, "status_check_requested")
        assert check.get("hint") == hint and "trusted" not in check
        assert check["auth"] == {"authserv_id": "mx.buyer.test", "dkim": "pass",
                                 "dkim_domain": "notice.aliexpress.com", "spf": "pass",
                                 "spf_domain": "notice.aliexpress.com", "dmarc": "pass",
                                 "dmarc_domain": "notice.aliexpress.com"}  # fmt: skip
        assert _check_due(store, case.id) == clock.now
    due = {t.case_id for t in store.tracking.due_checks([CaseState.SUBMITTED])}
    assert {case.id for case, _, _ in mails} <= due


def test_trusted_account_outcome_mails_move_cases_and_say_so(
    store: Store, pack: Pack, mailbox: Mailbox, clock: FrozenClock
) -> None:
    """An operator who trusts an account's mail (its pages cannot be read) lets an outcome mail
    move the case; the history and the outcome note say it was the mail alone."""
    add_account(store, "alice", mailbox.email)
    approved = submitted_case(store, "alice")
    rejected = submitted_case(store, "alice")
    refunded = submitted_case(store, "alice", CaseKind.REFUND)
    countered = submitted_case(store, "alice", CaseKind.REFUND)
    escalated = submitted_case(store, "alice", CaseKind.REFUND)
    wrong_kind = submitted_case(store, "alice", CaseKind.REFUND)
    mails = [
        (approved, "Cancellation approved"),
        (rejected, "Cancellation rejected"),
        (refunded, "Refund complete"),
        (countered, "Seller proposed a solution"),
        (escalated, "Dispute escalated to AliExpress"),
        (wrong_kind, "Cancellation approved"),
    ]
    for case, step in mails:
        send(mailbox, portal_mail(mailbox, f"Order {case.order_id}: {step}", case.order_id))
    poller = make_poller(store, pack, mailbox, clock)
    poller.settings = poller.settings.model_copy(update={"trust_mail_accounts": ("alice",)})
    poller.poll_account("alice")

    expected = [CaseState.APPROVED, CaseState.REJECTED, CaseState.REFUNDED, CaseState.COUNTER_OFFER,
                CaseState.SUBMITTED, CaseState.SUBMITTED]  # fmt: skip
    assert [store.cases.get(c.id).state for c, _ in mails] == expected
    for case, _ in mails:
        assert len(_events(store, case.id, "status_check_requested")) == 1
    moved = [e for e in store.cases.history(approved.id) if e.kind == "mail_outcome"]
    assert len(moved) == 1 and moved[0].from_state is CaseState.SUBMITTED
    assert moved[0].detail["signal"] == "cancel_approved" and moved[0].detail["trusted"] is True
    assert moved[0].detail["why"] == TRUSTED_NOTE == store.cases.get(approved.id).outcome_note
    assert "moved by mail alone" in TRUSTED_NOTE


def test_trusted_account_mail_older_than_the_last_change_moves_nothing(
    store: Store, pack: Pack, mailbox: Mailbox, clock: FrozenClock
) -> None:
    """A trusted account's outcome mail that arrived before the case last changed state (here:
    the case was submitted after the mail came in) only asks for a check."""
    add_account(store, "alice", mailbox.email)
    clock.now = datetime.now(UTC) + timedelta(hours=1)  # the case changes after the mail arrives
    case = submitted_case(store, "alice")
    send(mailbox, portal_mail(mailbox, f"Order {case.order_id}: Cancellation rejected", case.order_id))
    poller = make_poller(store, pack, mailbox, clock)
    poller.settings = poller.settings.model_copy(update={"trust_mail_accounts": ("alice",)})
    assert poller.poll_account("alice").applied == 1
    assert store.cases.get(case.id).state is CaseState.SUBMITTED
    [check] = _events(store, case.id, "status_check_requested")
    assert check["hint"] == "rejected" and "not newer" in str(check["move_skipped"])


def test_cases_a_mail_moved_are_handed_on_after_the_commit(
    store: Store, pack: Pack, mailbox: Mailbox, clock: FrozenClock
) -> None:
    """The service re-renders a case's report when a mail moved it (a trusted account's); the
    hook sees the committed state, and a failing hook neither undoes the mail nor stops the poll."""
    add_account(store, "alice", mailbox.email)
    approved = submitted_case(store, "alice")
    shipping = submitted_case(store, "alice")  # only a status check: not handed on
    refunded = submitted_case(store, "alice", CaseKind.REFUND)
    seen: list[tuple[int, CaseState]] = []

    def follow_up(case_id: int) -> None:
        seen.append((case_id, store.cases.get(case_id).state))
        if case_id == approved.id:
            raise OSError("disk full")

    for case, step in ((approved, "Cancellation approved"), (shipping, "Ready to ship"),
                       (refunded, "Refund complete")):
        send(mailbox, portal_mail(mailbox, f"Order {case.order_id}: {step}", case.order_id))
    poller = make_poller(store, pack, mailbox, clock, on_case_moved=follow_up)
    poller.settings = poller.settings.model_copy(update={"trust_mail_accounts": ("alice",)})
    result = poller.poll_account("alice")
    assert result.applied == 3
    assert seen == [(approved.id, CaseState.APPROVED), (refunded.id, CaseState.REFUNDED)]
    assert store.cases.get(approved.id).state is CaseState.APPROVED  # the hook's failure undid nothing


def test_outcome_not_allowed_from_the_current_state_only_requests_a_check(
    store: Store, pack: Pack, mailbox: Mailbox, clock: FrozenClock
) -> None:
    add_account(store, "alice", mailbox.email)
    new = NewCase(account="alice", order_id=next_order_id(), kind=CaseKind.CANCEL, reason="changed_mind")
    case = store.intake.create_with(new)  # still queued: queued → approved is not in the state table
    send(mailbox, portal_mail(mailbox, f"Order {case.order_id}: Cancellation approved", case.order_id))
    poller = make_poller(store, pack, mailbox, clock)
    poller.settings = poller.settings.model_copy(update={"trust_mail_accounts": ("alice",)})
    poller.poll_account("alice")
    assert store.cases.get(case.id).state is CaseState.QUEUED
    checks = _events(store, case.id, "status_check_requested")
    assert len(checks) == 1 and checks[0]["move_refused"] == "approved"


def test_german_subjects_are_classified(
    store: Store, pack: Pack, mailbox: Mailbox, clock: FrozenClock
) -> None:
    add_account(store, "alice", mailbox.email)
    approved = submitted_case(store, "alice")
    shipping = submitted_case(store, "alice")
    refunded = submitted_case(store, "alice", CaseKind.REFUND)
    send(
        mailbox,
        portal_mail(mailbox, f"Bestellung {approved.order_id}: Stornierung genehmigt", approved.order_id),
    )
    send(mailbox, portal_mail(mailbox, f"Bestellung {shipping.order_id}: Versandfertig", shipping.order_id))
    send(mailbox, portal_mail(mailbox, f"Bestellung {refunded.order_id}: Erstattung abgeschlossen"))
    result = make_poller(store, pack, mailbox, clock).poll_account("alice")
    assert result.applied == 3
    for case in (approved, shipping, refunded):
        assert store.cases.get(case.id).state is CaseState.SUBMITTED
    assert [d["signal"] for d in _events(store, shipping.id, "status_check_requested")] == ["ready_to_ship"]
    assert [d["hint"] for d in _events(store, approved.id, "status_check_requested")] == ["approved"]
    assert [d["hint"] for d in _events(store, refunded.id, "status_check_requested")] == ["refunded"]


def test_mail_for_an_order_without_a_case_is_recorded_without_effect(
    store: Store, pack: Pack, mailbox: Mailbox, clock: FrozenClock
) -> None:
    add_account(store, "alice", mailbox.email)
    other = submitted_case(store, "alice")
    stranger = next_order_id()
    send(mailbox, portal_mail(mailbox, f"Order {stranger}: Cancellation approved", stranger))
    result = make_poller(store, pack, mailbox, clock).poll_account("alice")
    assert (result.fetched, result.ignored, result.applied) == (1, 1, 0)
    assert _processed(store) == 1
    assert store.cases.get(other.id).state is CaseState.SUBMITTED
    assert store.cases.history(other.id)[-1].to_state is CaseState.SUBMITTED


def test_mail_of_another_account_does_not_touch_this_accounts_cases(
    store: Store, pack: Pack, mailbox: Mailbox, clock: FrozenClock
) -> None:
    add_account(store, "alice", mailbox.email)
    add_account(store, "bob", "bob@example.test")
    oid = next_order_id()
    bobs = submitted_case(store, "bob", order_id=oid)
    send(mailbox, portal_mail(mailbox, f"Order {oid}: Cancellation approved", oid))
    assert make_poller(store, pack, mailbox, clock).poll_account("alice").ignored == 1
    assert store.cases.get(bobs.id).state is CaseState.SUBMITTED


def test_oversized_mail_is_skipped_and_passed(
    store: Store, pack: Pack, mailbox: Mailbox, clock: FrozenClock
) -> None:
    account = add_account(store, "alice", mailbox.email)
    case = submitted_case(store, "alice")
    send(mailbox, make_message("huge", "x" * 200_000, to=mailbox.email))
    send(mailbox, portal_mail(mailbox, f"Order {case.order_id}: Delivered", case.order_id))
    poller = make_poller(store, pack, mailbox, clock)
    poller.settings = poller.settings.model_copy(update={"mail_max_message_bytes": 100_000})
    result = poller.poll_account("alice")
    assert (result.fetched, result.ignored, result.applied) == (2, 1, 1)
    cursor = store.mail.get_cursor(account.id or 0, "INBOX")
    assert cursor is not None and cursor.last_uid == 2


def test_async_wrapper_polls_in_a_thread(
    store: Store, pack: Pack, mailbox: Mailbox, clock: FrozenClock
) -> None:
    add_account(store, "alice", mailbox.email)
    case = submitted_case(store, "alice")
    send(mailbox, portal_mail(mailbox, f"Order {case.order_id}: Delivered", case.order_id))
    result = asyncio.run(make_poller(store, pack, mailbox, clock).apoll_account("alice"))
    assert result.applied == 1


def test_missing_mailbox_secret_and_unreachable_server_raise_typed_errors(
    store: Store, pack: Pack, mailbox: Mailbox, clock: FrozenClock
) -> None:
    store.accounts.add(Account(name="nobox", email="n@example.test", password_ref="env:RECOUP_SECRET_NOBOX"))
    add_account(store, "alice", mailbox.email)
    poller = make_poller(store, pack, mailbox, clock)
    with pytest.raises(SecretMissingError):
        poller.poll_account("nobox")
    unset = MailPoller(store, pack, poller.settings, clock, environ={})
    with pytest.raises(SecretMissingError) as info:
        unset.poll_account("alice")
    assert MAILBOX_PW_VAR in str(info.value)
    closed = Settings(imap_host="127.0.0.1", imap_port=1, imap_ssl=False, imap_timeout_s=2)
    down = MailPoller(store, pack, closed, clock, environ={MAILBOX_PW_VAR: mailbox.password})
    with pytest.raises(MailUnavailableError) as down_info:
        down.poll_account("alice")
    assert mailbox.password not in str(down_info.value)


def test_message_moved_to_another_polled_folder_is_not_applied_again(
    store: Store, pack: Pack, mailbox: Mailbox, clock: FrozenClock
) -> None:
    account = add_account(store, "alice", mailbox.email)
    case = submitted_case(store, "alice")
    with IMAPClient(mailbox.server.host, mailbox.server.imap_port, ssl=False) as imap:
        imap.login(mailbox.email, mailbox.password)
        imap.create_folder("Archive")
    send(mailbox, portal_mail(mailbox, f"Order {case.order_id}: Delivered", case.order_id))
    poller = make_poller(store, pack, mailbox, clock)
    poller.settings = poller.settings.model_copy(update={"mail_poll_folders": ("INBOX", "Archive")})
    assert poller.poll_account("alice").applied == 1
    with IMAPClient(mailbox.server.host, mailbox.server.imap_port, ssl=False) as imap:
        imap.login(mailbox.email, mailbox.password)
        imap.select_folder("INBOX")
        imap.copy(imap.search("ALL"), "Archive")
    result = poller.poll_account("alice")
    assert (result.fetched, result.duplicates, result.applied) == (1, 1, 0)
    assert len(_events(store, case.id, "status_check_requested")) == 1
    archive = store.mail.get_cursor(account.id or 0, "Archive")
    assert archive is not None and archive.last_uid == 1


def test_two_pollers_at_once_apply_each_message_once(
    store: Store, pack: Pack, mailbox: Mailbox, clock: FrozenClock
) -> None:
    add_account(store, "alice", mailbox.email)
    cases = [submitted_case(store, "alice") for _ in range(15)]
    for case in cases:
        send(mailbox, portal_mail(mailbox, f"Order {case.order_id}: Order shipped", case.order_id))
    barrier = threading.Barrier(2)
    results: list[PollResult] = []
    errors: list[BaseException] = []

    def run() -> None:
        poller = make_poller(store, pack, mailbox, clock)
        try:
            barrier.wait(timeout=10)
            results.append(poller.poll_account("alice"))
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == [] and len(results) == 2
    assert sum(r.applied for r in results) == 15
    assert sum(r.fetched for r in results) == sum(r.applied + r.duplicates for r in results)
    assert [len(_events(store, c.id, "status_check_requested")) for c in cases] == [1] * 15
    assert _processed(store) == 15

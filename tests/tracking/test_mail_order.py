"""Order of events (issue 8 #4): a mail older than the case's last state change never moves the
case back, on a trusted account too. The interleavings of a counter-offer mail with the page
reading it, our answer, and the mail being applied late, through the real store (SQLite and
PostgreSQL), the real classifier and the effects planner."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import count

import pytest

from bot.mail.classify import MailClassifier
from bot.mail.effects import planner
from bot.mail.message import parse_message
from bot.models import CaseKind
from bot.states import CaseState
from bot.store import Store
from flows.pack import Pack
from tests.fixtures.clock import FrozenClock
from tests.fixtures.mail import make_message
from tests.tracking.conftest import add_account, submitted_case

_uids = count(1)


def _apply_offer_mail(store: Store, pack: Pack, order_id: str, arrived: datetime, *, trusted: bool) -> None:
    """Apply a 'Seller proposed a solution' mail that ARRIVED at `arrived` (Date and
    INTERNALDATE), now (the store's clock), on account alice."""
    raw = make_message(
        f"Order {order_id}: Seller proposed a solution",
        "Please respond.",
        date=arrived,
        message_id=f"<offer-{next(_uids)}@notice.example.test>",
    )
    message = parse_message(raw, uid=1, internal_date=arrived)
    assert message is not None
    signal = MailClassifier(pack.model.email).classify(message)
    assert signal is not None and signal.kind == "counter_offer"
    account = store.accounts.get("alice")
    assert account.id is not None
    store.mail_apply.apply_message(
        account.id,
        "INBOX",
        uidvalidity=1,
        uid=next(_uids),
        message_key=signal.message_key,
        classification=signal.kind,
        order_ids=signal.order_ids,
        plan=planner(signal, trusted=trusted),
        detail={"source": "mail", "signal": signal.kind},
    )


def _page_reads_offer(store: Store, case_id: int) -> None:
    store.cases.transition(
        case_id, CaseState.COUNTER_OFFER, expected_from=CaseState.SUBMITTED, kind="status_check"
    )


def _we_answer(store: Store, case_id: int) -> None:
    # declining the offer keeps the dispute open: the case waits for the next outcome
    store.cases.transition(
        case_id, CaseState.SUBMITTED, expected_from=CaseState.COUNTER_OFFER, kind="offer_answered"
    )


@pytest.mark.parametrize("trusted", [False, True], ids=["untrusted", "trusted"])
def test_counter_offer_mail_that_arrived_before_our_answer_never_reopens_the_offer(
    store: Store, pack: Pack, clock: FrozenClock, trusted: bool
) -> None:
    """The offer mail arrives at 10:00; the page reads the offer at 10:05; we answer at 10:10;
    the mail is applied only at 10:20 (a slow poll, a folder read late). The case stays where
    our answer put it: the mail asks for a check and its hint is not taken."""
    add_account(store, "alice", "alice@buyer.test")
    case = submitted_case(store, "alice", CaseKind.REFUND)
    arrived = clock.advance(3600)
    clock.advance(300)
    _page_reads_offer(store, case.id)
    clock.advance(300)
    _we_answer(store, case.id)
    clock.advance(600)
    _apply_offer_mail(store, pack, case.order_id, arrived, trusted=trusted)

    assert store.cases.get(case.id).state is CaseState.SUBMITTED
    history = store.cases.history(case.id)
    assert [e.to_state for e in history if e.from_state != e.to_state][-1] is CaseState.SUBMITTED
    assert not [e for e in history if e.kind == "mail_outcome"]
    [check] = [e for e in history if e.kind == "status_check_requested"]
    assert check.detail["hint"] == "counter_offer"
    if trusted:
        assert "not newer" in check.detail["move_skipped"]


# (mail arrives, page reads the offer, we answer) in every order; the mail is applied last
INTERLEAVINGS = {
    "mail, page, answer": ("mail", "page", "answer"),
    "page, mail, answer": ("page", "mail", "answer"),
    "page, answer, mail": ("page", "answer", "mail"),
}


@pytest.mark.parametrize("order", list(INTERLEAVINGS.values()), ids=list(INTERLEAVINGS))
def test_interleavings_on_a_trusted_account(
    store: Store, pack: Pack, clock: FrozenClock, order: tuple[str, ...]
) -> None:
    """Whatever happened before the mail was applied, a trusted account's mail moves the case
    only when it arrived after the case's last state change: only a mail newer than our answer
    may reopen the offer (that is a new offer)."""
    add_account(store, "alice", "alice@buyer.test")
    case = submitted_case(store, "alice", CaseKind.REFUND)
    arrived: datetime | None = None
    for step in order:
        now = clock.advance(300)
        if step == "mail":
            arrived = now
        elif step == "page":
            _page_reads_offer(store, case.id)
        else:
            _we_answer(store, case.id)
    assert arrived is not None
    clock.advance(600)
    _apply_offer_mail(store, pack, case.order_id, arrived, trusted=True)

    state = store.cases.get(case.id).state
    moved = [e for e in store.cases.history(case.id) if e.kind == "mail_outcome"]
    if order[-1] == "mail":  # the mail is newer than our answer: a new offer
        assert state is CaseState.COUNTER_OFFER and len(moved) == 1
    else:  # older than our answer: never moves the case back
        assert state is CaseState.SUBMITTED and moved == []


def test_the_mail_applied_twice_changes_nothing_more(store: Store, pack: Pack, clock: FrozenClock) -> None:
    add_account(store, "alice", "alice@buyer.test")
    case = submitted_case(store, "alice", CaseKind.REFUND)
    arrived = clock.advance(60)
    raw = make_message(
        f"Order {case.order_id}: Seller proposed a solution",
        "x",
        date=arrived,
        message_id="<same@notice.example.test>",
    )
    account = store.accounts.get("alice")
    assert account.id is not None
    for uid in (1, 2):
        clock.advance(timedelta(minutes=5).total_seconds())
        message = parse_message(raw, uid=uid, internal_date=arrived)
        assert message is not None
        signal = MailClassifier(pack.model.email).classify(message)
        assert signal is not None
        applied = store.mail_apply.apply_message(
            account.id,
            "INBOX",
            uidvalidity=1,
            uid=uid,
            message_key=signal.message_key,
            classification=signal.kind,
            order_ids=signal.order_ids,
            plan=planner(signal, trusted=True),
        )
        assert applied.duplicate is (uid == 2)
        if uid == 1:  # the offer is real: we answer it before the copy is read again
            assert store.cases.get(case.id).state is CaseState.COUNTER_OFFER
            clock.advance(60)
            _we_answer(store, case.id)
    assert store.cases.get(case.id).state is CaseState.SUBMITTED

"""The mail corpus (tests/mail/corpus.py) through the real classifier, the real pack and the
effects planner (issue 8, "Must show"): every portal mail naming an open case's order asks for a
status check, however it reached the mailbox; no other mail is taken; an outdated mail moves no
case, even on a trusted account; "order closed" is never an approval."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from bot.config import Settings
from bot.mail.classify import UNRECOGNISED, MailClassifier, MailSignal
from bot.mail.effects import effects_for, outcome_for
from bot.mail.message import MailMessage, parse_message
from bot.models import CaseKind
from bot.states import CaseState
from bot.store import OpenCase
from flows.pack import Pack, load_pack
from tests.mail.corpus import ALIAS, SENT, CorpusMail, other_corpus, portal_corpus

PORTAL_MAILS = portal_corpus()
OTHER_MAILS = other_corpus()
ACCOUNT = "ann"


@pytest.fixture(scope="module")
def pack() -> Pack:
    """The real AliExpress selector pack."""
    return load_pack(Settings())


@pytest.fixture(scope="module")
def classifier(pack: Pack) -> MailClassifier:
    return MailClassifier(pack.model.email, aliases={ACCOUNT: [ALIAS]})


def _parsed(mail: CorpusMail) -> MailMessage:
    parsed = parse_message(mail.raw, uid=1)
    assert parsed is not None, mail.name
    return parsed


def _open_cases(orders: tuple[str, ...], changed_at: datetime | None = None) -> list[OpenCase]:
    """An open cancel case and an open refund case for each order, plus one of another order."""
    cases = [OpenCase(1000, "3042417938999999", CaseKind.CANCEL, CaseState.SUBMITTED, changed_at)]
    for n, order in enumerate(orders):
        cases.append(OpenCase(2 * n + 1, order, CaseKind.CANCEL, CaseState.SUBMITTED, changed_at))
        cases.append(OpenCase(2 * n + 2, order, CaseKind.REFUND, CaseState.SUBMITTED, changed_at))
    return cases


def test_the_corpus_is_as_large_and_varied_as_promised() -> None:
    assert len(PORTAL_MAILS) >= 40 and len(OTHER_MAILS) >= 30
    assert len({m.lang for m in PORTAL_MAILS}) >= 4
    tags = [t for m in PORTAL_MAILS for t in m.tags]
    for tag in ("relayed", "forwarded", "alias", "html-only", "multi-order", "parcel-first", "closed"):
        assert tags.count(tag) >= 1, tag
    assert tags.count("relayed") >= 4 and tags.count("forwarded") >= 6 and tags.count("parcel-first") >= 5
    assert len({m.name for m in PORTAL_MAILS + OTHER_MAILS}) == len(PORTAL_MAILS) + len(OTHER_MAILS)


@pytest.mark.parametrize("mail", PORTAL_MAILS, ids=[m.name for m in PORTAL_MAILS])
def test_every_portal_mail_naming_an_open_order_asks_for_a_status_check(
    classifier: MailClassifier, mail: CorpusMail
) -> None:
    signal = classifier.classify(_parsed(mail), account=ACCOUNT)
    assert signal is not None, mail.name
    assert signal.sender_via == mail.via
    assert set(mail.orders) <= set(signal.order_ids), (mail.name, signal.order_ids)
    assert not set(mail.not_orders) & set(signal.order_ids)
    assert all(not n.isdigit() or n not in "".join(signal.order_ids) for n in mail.not_orders)
    cases = _open_cases(mail.orders, SENT - timedelta(days=1))
    effects = effects_for(signal, cases)
    asked = {e.case_id for e in effects if e.request_check}
    assert asked == {c.id for c in cases if c.order_id in mail.orders}, mail.name
    assert all(e.move_to is None for e in effects)  # a doorbell, not a verdict
    assert all((e.note or {})["sender_via"] == mail.via for e in effects)


def test_aliases_count_only_for_their_account(classifier: MailClassifier, pack: Pack) -> None:
    [alias] = [m for m in PORTAL_MAILS if "alias" in m.tags]
    assert classifier.classify(_parsed(alias), account=ACCOUNT) is not None
    assert classifier.classify(_parsed(alias), account="bernd") is None
    assert classifier.classify(_parsed(alias)) is None
    everyone = MailClassifier(pack.model.email, aliases={"*": [ALIAS]})
    assert everyone.classify(_parsed(alias), account="bernd") is not None


@pytest.mark.parametrize("mail", OTHER_MAILS, ids=[m.name for m in OTHER_MAILS])
def test_no_other_mail_is_taken(classifier: MailClassifier, mail: CorpusMail) -> None:
    parsed = parse_message(mail.raw, uid=1)
    if parsed is None:
        return
    assert classifier.classify(parsed, account=ACCOUNT) is None, mail.name
    assert not classifier.is_portal_sender(parsed, account=ACCOUNT)


def test_unmatched_portal_mail_rings_without_a_hint(classifier: MailClassifier) -> None:
    unknown = [
        m
        for m in PORTAL_MAILS
        if m.name in ("de unknown step", "en parcel first, id only in a link", "pl paczka, numer zamówienia")
    ]
    assert len(unknown) == 3
    for mail in unknown:
        signal = classifier.classify(_parsed(mail), account=ACCOUNT)
        assert signal is not None and signal.kind == UNRECOGNISED
        effects = effects_for(signal, _open_cases(mail.orders), trusted=True)
        assert effects and all(e.request_check and e.move_to is None for e in effects)
        assert all("hint" not in (e.note or {}) for e in effects)


def test_an_outdated_mail_moves_no_case_even_on_a_trusted_account(classifier: MailClassifier) -> None:
    """Every outcome mail of the corpus, applied after the case last changed state (its date is
    older than that change): a status check, never a move, on a trusted account too."""
    outcomes = 0
    for mail in PORTAL_MAILS:
        signal = classifier.classify(_parsed(mail), account=ACCOUNT)
        assert signal is not None
        for kind in CaseKind:
            later = [
                OpenCase(1, order, kind, state, SENT + timedelta(minutes=5))
                for order in mail.orders
                for state in (CaseState.SUBMITTED, CaseState.COUNTER_OFFER)
            ]
            for effect in effects_for(signal, later, trusted=True):
                assert effect.move_to is None, mail.name
                assert effect.request_check
                if outcome_for(signal.kind, kind) is not None:
                    outcomes += 1
                    assert "move_skipped" in (effect.note or {})
    assert outcomes >= 10


def test_forwarded_mail_never_moves_a_case_even_when_trusted(classifier: MailClassifier) -> None:
    for mail in (m for m in PORTAL_MAILS if "forwarded" in m.tags and "outcome" in m.tags):
        signal = classifier.classify(_parsed(mail), account=ACCOUNT)
        assert signal is not None and signal.sender_via.startswith("forward:")
        for kind in CaseKind:
            older = [OpenCase(1, o, kind, CaseState.SUBMITTED, SENT - timedelta(days=1)) for o in mail.orders]
            for effect in effects_for(signal, older, trusted=True):
                assert effect.move_to is None


def test_order_closed_is_never_an_approval(classifier: MailClassifier) -> None:
    closed = [m for m in PORTAL_MAILS if "closed" in m.tags]
    assert len(closed) >= 2
    for mail in closed:
        signal = classifier.classify(_parsed(mail), account=ACCOUNT)
        assert signal is not None and signal.kind == "closed_needs_check"
        for kind in CaseKind:
            cases = [OpenCase(1, o, kind, CaseState.SUBMITTED, SENT - timedelta(days=1)) for o in mail.orders]
            for effect in effects_for(signal, cases, trusted=True):
                assert effect.move_to is None and "hint" not in (effect.note or {})


def test_trusted_fresh_relayed_outcome_still_moves(classifier: MailClassifier) -> None:
    """The relay is the portal's own mail: on a trusted account a fresh outcome moves the case."""
    [mail] = [m for m in PORTAL_MAILS if m.name == "en relayed refund rejected"]
    signal = classifier.classify(_parsed(mail), account=ACCOUNT)
    assert isinstance(signal, MailSignal) and signal.kind == "refund_rejected"
    case = OpenCase(1, mail.orders[0], CaseKind.REFUND, CaseState.SUBMITTED, SENT - timedelta(days=1))
    [effect] = effects_for(signal, [case], trusted=True)
    assert effect.move_to is CaseState.REJECTED and (effect.note or {})["sender_via"] == "relay:apple"
